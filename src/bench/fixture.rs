//! The investigation benchmark (issue 5): a fixture of N realistic manifests on a real waste
//! log in a directory (built once, reused by later runs), then the log opened (replay time,
//! resident memory) and subject search, the graph around a load and the detector scan timed
//! on it. Every search is also checked against what the generator put in the log (the first
//! queries in full, through every page), so a fast wrong answer fails the run.
//!
//! The fixture is the synthetic city of `domain.rs` run on a simulated clock: manifests are
//! issued in chunks spread over 660 days from 2025-01-01 (picked up 2 h after issue,
//! delivered 4 h after, received at 5 h, treated the next day), each hand-over carries its
//! site and one of the two drivers of its truck, and the five trucks of the first hauler
//! report track points.

use super::domain::{
    append, created_numbers, keys, par_map, resident_bytes, rules, City, HAULERS, PLANTS,
    RECEIVERS, TRUCKS_PER_HAULER,
};
use super::{print_raw, raw_rates, RawRates};
use crate::domain::model::StepKind;
use crate::domain::query::DomainQuery;
use crate::domain::subjects::{Subject, SubjectKind};
use crate::domain::RULEBOOK;
use crate::investigate::search::{self, GraphQuery, Order, Query};
use crate::ledger::event::SignedEvent;
use crate::ledger::time::Timestamp;
use crate::store::{Clock, Config, Genesis, Ledger};
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2025-01-01T00:00:00Z.
pub const START_MS: u64 = 1_735_689_600_000;
pub const SPAN_MS: u64 = 660 * DAY;
const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;
/// Hours after its chunk's start at which each of a manifest's entries is logged.
const STEP_HOURS: [u64; 5] = [0, 2, 4, 5, 26];
const MARKER: &str = "wasteledger-fixture.json";

/// A clock the generator sets (the sequencer still never lets time go backwards).
struct SimClock(AtomicU64);

impl Clock for SimClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.0.load(Ordering::SeqCst))
    }
}

/// Manifests per chunk: at least 50 chunks, at most 4,000 manifests each.
pub fn chunk_size(manifests: u64) -> u64 {
    (manifests / 50).clamp(1, 4_000)
}

fn chunk_start(c: u64, manifests: u64) -> u64 {
    let chunks = manifests.div_ceil(chunk_size(manifests)).max(1);
    START_MS + c * (SPAN_MS / chunks)
}

fn ts(ms: u64) -> String {
    Timestamp::from_unix_millis(ms).to_string()
}

/// Build the fixture of `manifests` manifests in `dir` unless it is there already. Returns
/// whether it was built now.
pub fn ensure(dir: &Path, manifests: u64, cache_mb: u64, raw: &RawRates) -> Result<bool> {
    let marker = dir.join(MARKER);
    if let Ok(text) = std::fs::read_to_string(&marker) {
        let v: serde_json::Value = serde_json::from_str(&text).context("fixture marker")?;
        if v["manifests"].as_u64() == Some(manifests) {
            println!("fixture: reusing {} ({manifests} manifests)", dir.display());
            return Ok(false);
        }
        bail!(
            "{} holds a fixture of {} manifests, not {manifests}: use another --data directory",
            dir.display(),
            v["manifests"]
        );
    }
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!(
            "{} is not empty and holds no fixture: give an empty or new directory",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir)?;
    let (log_key, city) = keys();
    let clock = Arc::new(SimClock(AtomicU64::new(START_MS - DAY)));
    let live = rules();
    let genesis = Genesis::new(
        "fixture.wasteledger/waste",
        log_key,
        &city.authority,
        Some(RULEBOOK),
    )?;
    let ledger = Ledger::create(
        dir,
        Config {
            cache_bytes: cache_mb << 20,
            ..Config::default()
        },
        genesis,
        Arc::new(live.clone()),
        clock.clone(),
    )?;
    append(&ledger, city.registry(), "registry")?;
    let chunk = chunk_size(manifests);
    let t0 = Instant::now();
    let mut entries = 0u64;
    let mut done = 0u64;
    let mut c = 0u64;
    while done < manifests {
        let n = chunk.min(manifests - done);
        let base = chunk_start(c, manifests);
        let at = |step: usize| base + STEP_HOURS[step] * HOUR;
        clock.0.store(at(0), Ordering::SeqCst);
        let issues = par_map(done..done + n, |i| city.issue(i));
        let (_, receipts) = append(&ledger, issues, "manifest.issued")?;
        let numbers = created_numbers(&receipts)?;
        let (pickup, delivery) = (ts(at(1)), ts(at(2)));
        let rest = par_map(done..done + n, |i| {
            city.lifecycle_at(i, &numbers[(i - done) as usize], &pickup, &delivery)
        });
        for step in 0..4 {
            clock.0.store(at(step + 1), Ordering::SeqCst);
            let events: Vec<SignedEvent> = rest.iter().map(|r| r[step].clone()).collect();
            append(&ledger, events, "lifecycle step")?;
            if step == 1 {
                // The first hauler's trucks report where they were between pickup and delivery.
                append(&ledger, tracks(&city, base), "vehicle.track")?;
                entries += TRUCKS_PER_HAULER as u64;
            }
        }
        entries += 5 * n;
        done += n;
        c += 1;
        if c.is_multiple_of(25) {
            println!(
                "fixture: {done}/{manifests} manifests, {entries} entries, {:.0} entries/s",
                entries as f64 / t0.elapsed().as_secs_f64()
            );
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "fixture built: {manifests} manifests, {entries} entries in {secs:.0}s = {:.0} entries/s ({})",
        entries as f64 / secs,
        raw.ratio(entries as f64 / secs),
    );
    ledger.close()?;
    std::fs::write(
        &marker,
        json!({"manifests": manifests, "generator": "wasteledger bench fixture v1"}).to_string(),
    )?;
    Ok(true)
}

fn tracks(city: &City, base: u64) -> Vec<SignedEvent> {
    let hauler = &city.haulers[0];
    (0..TRUCKS_PER_HAULER)
        .map(|t| {
            let points: Vec<_> = (0..4)
                .map(|k| {
                    json!({"at": ts(base + 2 * HOUR + k * 30 * 60_000),
                           "lat_e6": 31_300_000 + (t as i64) * 1_000 + k as i64 * 2_000,
                           "lon_e6": 120_900_000 + k as i64 * 2_000})
                })
                .collect();
            SignedEvent::sign(
                json!({"type": "vehicle.track", "plate": City::plate(0, t), "points": points}),
                &[&hauler.key],
            )
            .expect("track signs")
        })
        .collect()
}

/// A time after the generator's last event (two days after its last chunk starts).
fn end_ms(manifests: u64) -> u64 {
    chunk_start(manifests.div_ceil(chunk_size(manifests)), manifests) + 2 * DAY
}

/// A random search window over a fixture of `manifests`: 1, 7, 30 or 365 days starting in the
/// fixture's span (in milliseconds, [from, to)).
pub fn window(rng: &mut Rng, manifests: u64) -> (u64, u64) {
    let end = end_ms(manifests);
    let lengths = [DAY, 7 * DAY, 30 * DAY, 365 * DAY];
    let len = lengths[rng.below(lengths.len() as u64) as usize];
    let from = START_MS + rng.below((end - START_MS).saturating_sub(len / 2).max(1));
    (from, from + len)
}

/// splitmix64: reproducible queries (and the tests' injected faults) without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..n` for tests and benchmarks (modulo bias is negligible).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Every subject the generator uses.
pub fn subjects(city: &City) -> Vec<Subject> {
    let mut out = Vec::new();
    for h in 0..HAULERS {
        for t in 0..TRUCKS_PER_HAULER {
            out.push(Subject::new(SubjectKind::Plate, City::plate(h, t)));
            for shift in 0..2 {
                out.push(Subject::new(
                    SubjectKind::Driver,
                    City::driver_of(h, t, shift),
                ));
            }
        }
    }
    for a in city
        .plants
        .iter()
        .chain(&city.haulers)
        .chain(&city.receivers)
    {
        out.push(Subject::new(SubjectKind::Party, a.id.clone()));
    }
    for a in city.plants.iter().chain(&city.receivers) {
        out.push(Subject::new(SubjectKind::Site, a.site.clone()));
    }
    out
}

/// What the generator put in the log about `s` in [from, to): manifest number → the entries
/// (log indexes) that involve it, from the generator's cast and the manifests' own steps
/// (not from the subject index).
pub fn expected(
    d: &dyn DomainQuery,
    city: &City,
    s: &Subject,
    from: u64,
    to: u64,
) -> BTreeMap<String, BTreeSet<u64>> {
    let mut out = BTreeMap::new();
    d.each_manifest(&mut |m| {
        let Some(n) = m
            .reference
            .as_deref()
            .and_then(|r| r.strip_prefix("BENCH-"))
            .and_then(|r| r.parse::<u64>().ok())
        else {
            return ControlFlow::Continue(());
        };
        let (plant, hauler, plate, receiver) = city.cast_ids(n);
        let plant_site = &city.plants[n as usize % PLANTS].site;
        let receiver_site = &city.receivers[(n / 11) as usize % RECEIVERS].site;
        let kinds: &[&str] = match s.kind {
            SubjectKind::Plate if s.id == plate => &["custody.handover"],
            SubjectKind::Driver if s.id == City::driver(n) => &["custody.handover"],
            SubjectKind::Party if s.id == plant => &["manifest.issued", "pickup"],
            SubjectKind::Party if s.id == hauler => &["manifest.issued", "custody.handover"],
            SubjectKind::Party if s.id == receiver => &[
                "manifest.issued",
                "delivery",
                "custody.received",
                "custody.treated",
            ],
            SubjectKind::Site if &s.id == plant_site => &["manifest.issued", "pickup"],
            SubjectKind::Site if &s.id == receiver_site => &["manifest.issued", "delivery"],
            _ => &[],
        };
        let mut handovers = 0;
        let mut hits = BTreeSet::new();
        for step in &m.steps {
            let name = if step.kind == StepKind::Handover {
                handovers += 1;
                if handovers == 1 {
                    "pickup"
                } else {
                    "delivery"
                }
            } else {
                step.kind.as_str()
            };
            let t = step.time.unix_millis();
            if (kinds.contains(&step.kind.as_str()) || kinds.contains(&name)) && t >= from && t < to
            {
                hits.insert(step.index);
            }
        }
        if !hits.is_empty() {
            out.insert(m.number.to_string(), hits);
        }
        ControlFlow::Continue(())
    });
    out
}

/// Every page of a search, as manifest number → entries; fails on a manifest listed twice.
pub fn all_pages(
    d: &dyn DomainQuery,
    s: &Subject,
    from: u64,
    to: u64,
    order: Order,
    limit: usize,
) -> Result<BTreeMap<String, BTreeSet<u64>>> {
    let mut out = BTreeMap::new();
    let mut cursor = None;
    loop {
        let page = search::search(
            d,
            &Query {
                subject: s.clone(),
                from: Some(Timestamp::from_unix_millis(from)),
                to: Some(Timestamp::from_unix_millis(to)),
                order,
                limit,
                cursor,
                within_party: None,
            },
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        for h in page.manifests {
            let entries: BTreeSet<u64> = h.entries.iter().map(|e| e.index).collect();
            if out.insert(h.number.to_string(), entries).is_some() {
                bail!("search {s:?}: manifest {} listed twice", h.number);
            }
        }
        match page.next {
            Some(c) => cursor = Some(search::Cursor::parse(&c).map_err(|e| anyhow::anyhow!(e))?),
            None => return Ok(out),
        }
    }
}

pub(super) fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

pub(super) fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// What the investigation benchmark measured (for the tests).
pub struct Figures {
    pub manifests: usize,
    pub searches: usize,
    pub checked: usize,
    pub search_p99: Duration,
    pub graph_p99: Duration,
}

/// The fixture opened: the ledger, its read model, the city, and when and how fast it opened.
struct Opened {
    ledger: Ledger,
    state: crate::domain::DomainRules,
    city: City,
    t: Instant,
    replay: f64,
}

/// Open the fixture in `dir` with a sled cache of `cache_mb`, and print how long that took and
/// the resident memory before and after.
fn open(dir: &Path, manifests: u64, cache_mb: u64) -> Result<Opened> {
    let (log_key, city) = keys();
    let rss_before = resident_bytes();
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
        Arc::new(crate::store::SystemClock),
    )?;
    let replay = t.elapsed().as_secs_f64();
    let size = ledger.size();
    let rss_open = resident_bytes();
    let d = state.read();
    // The readers' benchmark (`--readers`) appends manifests of the same city to a fixture.
    if (d.manifest_count() as u64) < manifests {
        bail!(
            "{} manifests in the fixture, at least {manifests} expected",
            d.manifest_count()
        );
    }
    let mib = |b: Option<u64>| b.map_or("?".into(), |b| format!("{:.0} MiB", b as f64 / 1048576.0));
    println!(
        "open: {size} entries, {} manifests in the read model, opened in {replay:.1}s = {:.0} entries/s; resident memory {} before, {} after (sled cache {cache_mb} MiB); {} per manifest; subject index: {} subjects, {} postings",
        d.manifest_count(),
        size as f64 / replay,
        mib(rss_before),
        mib(rss_open),
        match (rss_before, rss_open) {
            (Some(a), Some(b)) => format!("{:.1} KB", (b.saturating_sub(a)) as f64 / d.manifest_count() as f64 / 1000.0),
            _ => "?".into(),
        },
        d.subject_counts().0,
        d.subject_counts().1,
    );
    // The balance rows the aggregates are kept in, counted from their groups' totals.
    let (mut groups, mut rows) = (0u64, 0u64);
    d.balance_totals(&mut |_, t| {
        groups += 1;
        rows += t.rows;
        std::ops::ControlFlow::Continue(())
    });
    println!(
        "balances: {rows} rows ({:.1} a manifest) in {groups} groups",
        rows as f64 / d.manifest_count().max(1) as f64
    );
    drop(d);
    Ok(Opened {
        ledger,
        state,
        city,
        t,
        replay,
    })
}

/// `bench --domain N --data DIR --open-only`: open the fixture, print the open's figures, and
/// close it (for a heap profiler, which wants the process to end).
pub fn open_only(dir: &Path, manifests: u64, cache_mb: u64) -> Result<()> {
    let o = open(dir, manifests, cache_mb)?;
    o.ledger.close()?;
    Ok(())
}

/// Open the fixture in `dir` and time search, graph and the detector scan on it.
pub fn measure(
    dir: &Path,
    manifests: u64,
    queries: usize,
    check: usize,
    cache_mb: u64,
) -> Result<Figures> {
    let Opened {
        ledger,
        state,
        city,
        t,
        replay,
    } = open(dir, manifests, cache_mb)?;
    super::sweep_after_open(&ledger, t, replay);

    // Subject search: random subjects over random windows, newest first, 50 a page, timed
    // from taking a view of the domain to the JSON body.
    let all = subjects(&city);
    let mut rng = Rng(0x5EED);
    let mut times: BTreeMap<&'static str, Vec<Duration>> = BTreeMap::new();
    let mut checked = 0;
    let mut found = 0usize;
    for q in 0..queries {
        let s = all[rng.below(all.len() as u64) as usize].clone();
        let (from, to) = window(&mut rng, manifests);
        let t = Instant::now();
        let body = {
            let d = state.read();
            let page = search::search(
                &*d,
                &Query {
                    subject: s.clone(),
                    from: Some(Timestamp::from_unix_millis(from)),
                    to: Some(Timestamp::from_unix_millis(to)),
                    order: Order::NewestFirst,
                    limit: 50,
                    cursor: None,
                    within_party: None,
                },
            )
            .map_err(|e| anyhow::anyhow!(e))?;
            found += page.manifests.len();
            serde_json::to_vec(&page)?
        };
        times.entry(s.kind.as_str()).or_default().push(t.elapsed());
        std::hint::black_box(body);
        if q < check {
            let d = state.read();
            let want = expected(&*d, &city, &s, from, to);
            let order = if q % 2 == 0 {
                Order::NewestFirst
            } else {
                Order::OldestFirst
            };
            let got = all_pages(&*d, &s, from, to, order, 50)?;
            if got != want {
                bail!(
                    "search {s:?} in [{}, {}): {} manifests found, {} expected (first difference: {:?})",
                    ts(from),
                    ts(to),
                    got.len(),
                    want.len(),
                    want.iter().find(|(k, v)| got.get(*k) != Some(v)).or(got.iter().find(|(k, v)| want.get(*k) != Some(v)))
                );
            }
            checked += 1;
        }
    }
    let mut every: Vec<Duration> = times.values().flatten().copied().collect();
    every.sort();
    println!(
        "subject search (target < 50 ms p99 at 1M manifests): {queries} queries over random windows of 1/7/30/365 days, 50 manifests a page, {found} manifests listed: p50 {} p99 {} max {}; {checked} checked in full against the generator (every page)",
        ms(pct(&every, 0.5)),
        ms(pct(&every, 0.99)),
        ms(*every.last().unwrap_or(&Duration::ZERO))
    );
    for (kind, v) in &mut times {
        v.sort();
        println!(
            "  by {kind}: {} queries, p50 {} p99 {} max {}",
            v.len(),
            ms(pct(v, 0.5)),
            ms(pct(v, 0.99)),
            ms(*v.last().unwrap_or(&Duration::ZERO))
        );
    }

    // The graph around random loads: depth 2, default caps, over the whole log.
    let numbers: Vec<_> = state.read().manifest_numbers();
    let mut gt = Vec::new();
    let (mut nodes, mut cut) = (0usize, 0usize);
    for _ in 0..(queries / 5).max(20) {
        let n = numbers[rng.below(numbers.len() as u64) as usize].clone();
        let t = Instant::now();
        let body = {
            let d = state.read();
            let g = search::graph(
                &*d,
                &GraphQuery {
                    start: n,
                    depth: GraphQuery::DEFAULT_DEPTH,
                    from: None,
                    to: None,
                    fan_out: GraphQuery::DEFAULT_FAN_OUT,
                    max_nodes: GraphQuery::DEFAULT_MAX_NODES,
                    within_party: None,
                },
            )
            .map_err(|e| anyhow::anyhow!(e))?;
            nodes += g.nodes.len();
            cut += g.truncated.len();
            serde_json::to_vec(&g)?
        };
        gt.push(t.elapsed());
        std::hint::black_box(body);
    }
    gt.sort();
    println!(
        "graph around a load (depth 2, fan-out {} per node, at most {} nodes): {} graphs, {:.0} nodes and {:.1} truncations each on average: p50 {} p99 {} max {}",
        GraphQuery::DEFAULT_FAN_OUT,
        GraphQuery::DEFAULT_MAX_NODES,
        gt.len(),
        nodes as f64 / gt.len() as f64,
        cut as f64 / gt.len() as f64,
        ms(pct(&gt, 0.5)),
        ms(pct(&gt, 0.99)),
        ms(*gt.last().unwrap_or(&Duration::ZERO))
    );

    // ---- The anomaly detectors: one full scan of the state (what GET /v1/anomalies makes
    // at most once per 30 s), and one manifest's own (what each manifest read adds). ----
    {
        use crate::investigate::detectors::{
            detect, detect_filtered, manifest_own, vehicle_kind, AnomalyKind, DetectorConfig,
            Filter,
        };
        let d = state.read();
        let now = Timestamp::from_system_time(std::time::SystemTime::now());
        let cfg = DetectorConfig::default();
        let mut scans = Vec::new();
        let mut all = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            all = detect(&*d, now, &cfg);
            scans.push(t.elapsed());
        }
        scans.sort();
        let found = all.len();
        println!(
            "detector scan: {found} anomalies over {} manifests and {} vehicle fixes: median of 3 {:.2}s (min {:.2}s, max {:.2}s)",
            d.manifest_count(),
            d.fix_count(),
            scans[1].as_secs_f64(),
            scans[0].as_secs_f64(),
            scans[2].as_secs_f64()
        );
        let parts: Vec<String> = crate::investigate::detectors::scan_parts(&*d, now, &cfg)
            .into_iter()
            .map(|(what, s)| format!("{what} {s:.2}s"))
            .collect();
        println!("detector scan, where the time goes: {}", parts.join(", "));
        // What a list of every anomaly is made of: how many of each kind, and how many log
        // entries they name (an aggregate names every entry behind its balance).
        let mut kinds: std::collections::BTreeMap<&str, (usize, usize, usize)> = Default::default();
        for a in &all {
            let k = kinds.entry(a.kind.as_str()).or_default();
            k.0 += 1;
            k.1 += a.entries.len();
            k.2 = k.2.max(a.entries.len());
        }
        let kinds: Vec<String> = kinds
            .into_iter()
            .map(|(k, (n, e, max))| format!("{k} {n} ({e} entries, at most {max} in one)"))
            .collect();
        println!("detector scan, what it finds: {}", kinds.join(", "));
        drop(all);
        let sample: Vec<_> = d
            .manifest_numbers()
            .into_iter()
            .step_by((d.manifest_count() / 1000).max(1))
            .collect();
        let mut own: Vec<Duration> = sample
            .iter()
            .map(|n| {
                let t = Instant::now();
                std::hint::black_box(manifest_own(&*d, n, now, &cfg));
                t.elapsed()
            })
            .collect();
        own.sort();
        println!(
            "one manifest's own anomalies ({} manifests): p50 {} p99 {}",
            own.len(),
            ms(pct(&own, 0.50)),
            ms(pct(&own, 0.99))
        );
        // One vehicle's anomalies (what the map of a truck reads, `GET /v1/anomalies?vehicle=`):
        // the manifests naming it and its own fixes.
        let plates = d.tracked_vehicles();
        // Each of (at most) 200 vehicles' reads with the filter `of` makes for it, timed, sorted,
        // with the anomalies found.
        let timed = |of: &mut dyn FnMut(&crate::domain::codes::Plate) -> Filter| {
            let mut found = 0;
            let mut times: Vec<Duration> = plates
                .iter()
                .step_by((plates.len() / 200).max(1))
                .map(|p| {
                    let f = of(p);
                    let t = Instant::now();
                    found += std::hint::black_box(detect_filtered(&*d, now, &cfg, &f)).len();
                    t.elapsed()
                })
                .collect();
            times.sort();
            (times, found)
        };
        let (one, found) = timed(&mut |p| Filter {
            vehicle: Some(p.clone()),
            ..Filter::default()
        });
        println!(
            "one vehicle's anomalies ({} of {} vehicles, {found} anomalies): p50 {} p99 {} max {}",
            one.len(),
            plates.len(),
            ms(pct(&one, 0.50)),
            ms(pct(&one, 0.99)),
            ms(*one.last().unwrap_or(&Duration::ZERO))
        );
        // What the map of a truck reads for a day: its anomalies from a week before the day to
        // ten days after it, a random day each.
        let end = end_ms(manifests);
        let mut rng = Rng(0xA11CE);
        let (day, found) = timed(&mut |p| {
            let day = START_MS + 7 * DAY + rng.below(end - START_MS - 18 * DAY);
            Filter {
                vehicle: Some(p.clone()),
                from: Some(Timestamp::from_unix_millis(day - 7 * DAY)),
                to: Some(Timestamp::from_unix_millis(day + 11 * DAY)),
                ..Filter::default()
            }
        });
        println!(
            "one vehicle's anomalies from a week before a day to ten days after it (what its map of the day reads; {} vehicles, {found} anomalies): p50 {} p99 {} max {}",
            day.len(),
            ms(pct(&day, 0.50)),
            ms(pct(&day, 0.99)),
            ms(*day.last().unwrap_or(&Duration::ZERO))
        );
        // A vehicle rule over every vehicle, in the fixture's last day and last week.
        for days in [1, 7] {
            for kind in AnomalyKind::ALL.into_iter().filter(|k| vehicle_kind(*k)) {
                let f = Filter {
                    kind: Some(kind),
                    from: Some(Timestamp::from_unix_millis(end - days * DAY)),
                    to: Some(Timestamp::from_unix_millis(end)),
                    ..Filter::default()
                };
                let t = Instant::now();
                let n = detect_filtered(&*d, now, &cfg, &f).len();
                println!(
                    "  {} over every vehicle, the last {days} day(s): {n} in {}",
                    kind.as_str(),
                    ms(t.elapsed())
                );
            }
        }
        // The first page of the default list (`GET /v1/anomalies`: every kind, newest first)
        // as of the fixture's end, read from the newest window of time that fills it, and the
        // page after it (from its cursor).
        let at_end = Timestamp::from_unix_millis(end);
        let mut before = None;
        for page in ["first", "second"] {
            let t = Instant::now();
            let found = crate::http::investigate::newest_page(&*d, at_end, 50, before.clone());
            let took = t.elapsed();
            match found {
                Some(list) => {
                    println!(
                        "the default list's {page} page of 50, read from its newest anomalies: {} in {} (newest {}, oldest {})",
                        list.len(),
                        ms(took),
                        list.first().map_or(String::new(), |a| a.at.to_string()),
                        list.last().map_or(String::new(), |a| a.at.to_string()),
                    );
                    before = list.last().map(|a| (a.at, a.id.clone()));
                }
                None => {
                    println!("the default list's {page} page of 50: 64 days do not fill it ({}), the shared scan answers it", ms(took));
                    break;
                }
            }
        }
    }

    ledger.close()?;
    let searches = every.len();
    let search_p99 = pct(&every, 0.99);
    let graph_p99 = pct(&gt, 0.99);
    Ok(Figures {
        manifests: numbers.len(),
        searches,
        checked,
        search_p99,
        graph_p99,
    })
}

/// `bench --domain N --data DIR`: build (or reuse) the fixture, then measure.
pub fn run(dir: &Path, manifests: u64, queries: usize, cache_mb: u64) -> Result<()> {
    let raw = raw_rates();
    ensure(dir, manifests, cache_mb, &raw)?;
    measure(dir, manifests, queries, 20, cache_mb)?;
    print_raw(&raw);
    Ok(())
}

/// For tests: a fixture of `manifests` in a temporary directory (kept while the first value
/// lives), and whether it was built.
#[cfg(test)]
pub(crate) fn temporary(manifests: u64) -> (tempfile::TempDir, std::path::PathBuf, bool) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fixture");
    let built = ensure(&data, manifests, 64, &RawRates::unmeasured()).unwrap();
    (dir, data, built)
}

/// For tests: `searches` searches of the fixture at `data`, each checked through all its
/// pages against what the generator logged, finding `manifests` in all.
#[cfg(test)]
pub(crate) fn searches_find_what_was_logged(data: &Path, manifests: u64, searches: usize) {
    let f = measure(data, manifests, searches, searches, 64).unwrap();
    assert_eq!(f.manifests as u64, manifests);
    assert_eq!(f.searches, searches);
    assert_eq!(f.checked, searches);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The detectors on a generated fixture reopened from its directory: the rules about one
    /// manifest read from the manifests the fold watched for them are the full scan's, at
    /// times across the fixture's span and after it.
    #[test]
    fn on_a_generated_fixture_the_watched_rules_equal_the_full_scan() {
        use crate::investigate::detectors::{detect, detect_by_scan, DetectorConfig};
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("fixture");
        ensure(&data, 600, 64, &RawRates::unmeasured()).unwrap();
        let (log_key, _) = keys();
        let state = rules();
        let ledger = Ledger::open(
            &data,
            Config {
                cache_bytes: 64 << 20,
                ..Config::default()
            },
            log_key,
            Arc::new(state.clone()),
            Arc::new(crate::store::SystemClock),
        )
        .unwrap();
        let d = state.read();
        assert_eq!(d.manifest_count(), 600);
        let cfg = DetectorConfig::default();
        let mut found = 0;
        for at in [
            START_MS,
            START_MS + SPAN_MS / 3,
            START_MS + SPAN_MS + 30 * DAY,
        ] {
            let now = Timestamp::from_unix_millis(at);
            let watched = detect(&*d, now, &cfg);
            assert_eq!(watched, detect_by_scan(&*d, now, &cfg), "at {now}");
            found += watched.len();
        }
        assert!(found > 0, "the fixture has anomalies to compare");
        drop(d);
        ledger.shutdown();
    }

    /// The search benchmark, small: a 2,000-manifest fixture built, then reused; every
    /// search checked through all its pages against what the generator logged.
    #[test]
    fn small_fixture_searches_find_what_the_generator_logged() {
        let (_dir, data, built) = temporary(2_000);
        assert!(built, "built the first time");
        let raw = RawRates::unmeasured();
        assert!(
            !ensure(&data, 2_000, 64, &raw).unwrap(),
            "reused the second time"
        );
        assert!(
            ensure(&data, 3_000, 64, &raw).is_err(),
            "another size is refused"
        );
        searches_find_what_was_logged(&data, 2_000, 300);
    }
}
