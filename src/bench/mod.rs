//! Benchmarks (`wasteledger bench`, `cargo bench`): each figure is printed beside the raw
//! limits measured in the same run on the same machine (single-core `verify_strict` rate,
//! batch verify rate, SHA-256 rate), because this machine is shared and noisy: compare ratios.

use crate::ledger::event::{PublicKey, SignedEvent, VerifiedEvent};
use crate::ledger::merkle;
use crate::ledger::note::Checkpoint;
use crate::ledger::parallel::cores;
use crate::ledger::state::OpenRules;
use crate::store::{self, Config, Genesis, Ledger, SystemClock};
use anyhow::{bail, Result};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod cpu;
pub mod domain;
pub mod fixture;
mod mirror;
pub mod nginx;
pub mod readers;

#[derive(clap::Args, Clone, Debug)]
pub struct Options {
    /// Entries appended through the library (then audited, and proofs taken at that size).
    #[arg(long, default_value_t = 1_000_000)]
    pub entries: u64,
    /// Parties signing each event.
    #[arg(long, default_value_t = 1)]
    pub signers: usize,
    /// Also measure appends over HTTP on loopback.
    #[arg(long)]
    pub http: bool,
    /// Events posted by the HTTP client threads.
    #[arg(long, default_value_t = 50_000)]
    pub http_events: u64,
    /// Concurrent HTTP clients (connections).
    #[arg(long, default_value_t = 64)]
    pub http_clients: usize,
    /// Also mirror the log through its tiles over HTTP loopback, resume the mirror, and
    /// restore a log from it (entries/s beside the raw verify rate).
    #[arg(long)]
    pub mirror: bool,
    /// sled page cache in MiB (the store's memory bound).
    #[arg(long, default_value_t = 256)]
    pub cache_mb: u64,
    /// Scratch directory (default: a temporary one, removed after).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Also carry this many manifests through their whole life (5 entries each) on a log with
    /// the waste rules, then reopen (resuming the read model) and audit it.
    #[arg(long, default_value_t = 0)]
    pub domain: u64,
    /// With --domain N: the investigation benchmark on a fixture of N manifests kept in this
    /// directory (built on the first run, reused after): replay, memory, subject search,
    /// the graph around a load, the detector scan.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// With --data: searches timed (a fifth as many graphs).
    #[arg(long, default_value_t = 4_000)]
    pub queries: usize,
    /// With --domain N: serve the fixture (of --data, else a temporary one) over HTTP and time
    /// one appending client alone, then beside this many reader threads looping on the
    /// anomalies, subject search and manifest reads. The appended manifests stay in the fixture.
    #[arg(long, default_value_t = 0)]
    pub readers: usize,
    /// With --readers: seconds of each phase (alone, then beside the readers).
    #[arg(long, default_value_t = 20.0)]
    pub seconds: f64,
    /// With --data: open the fixture, print the open's time and resident memory, and stop
    /// (for a heap profiler, which wants the process to end).
    #[arg(long)]
    pub open_only: bool,
}

/// Raw limits of this machine, measured now.
pub struct RawRates {
    pub verify_strict_per_s: f64,
    /// `verify_strict` on every core at once, summed: the machine's real ceiling for appends
    /// and audits, since each event costs at least one strict verification. Two virtual cores
    /// need not verify twice as fast as one (siblings of one physical core, a busy host).
    pub verify_strict_all_cores_per_s: f64,
    pub cores: usize,
    pub verify_batch64_per_s: f64,
    pub sha256_mb_per_s: f64,
}

#[cfg(test)]
impl RawRates {
    /// Rates of 1/s, for tests that need no measurement (figures printed as ratios to them).
    pub(crate) fn unmeasured() -> RawRates {
        RawRates {
            verify_strict_per_s: 1.0,
            verify_strict_all_cores_per_s: 2.0,
            cores: 2,
            verify_batch64_per_s: 1.0,
            sha256_mb_per_s: 1.0,
        }
    }
}

pub fn raw_rates() -> RawRates {
    let key = SigningKey::from_bytes(&[42; 32]);
    let msg = vec![7u8; 600];
    let sig = key.sign(&msg);
    let vk = key.verifying_key();
    let verify_strict_per_s = rate(Duration::from_millis(700), || {
        vk.verify_strict(&msg, &sig).expect("valid");
        1
    });
    let cores = cores();
    let verify_strict_all_cores_per_s = std::thread::scope(|s| {
        let (msg, sig, vk) = (&msg, &sig, &vk);
        let each: Vec<_> = (0..cores)
            .map(|_| {
                s.spawn(move || {
                    rate(Duration::from_millis(700), || {
                        vk.verify_strict(msg, sig).expect("valid");
                        1
                    })
                })
            })
            .collect();
        each.into_iter()
            .map(|h| h.join().expect("verify thread"))
            .sum::<f64>()
    });
    let msgs: Vec<&[u8]> = vec![&msg; 64];
    let sigs = vec![sig; 64];
    let vks = vec![vk; 64];
    let verify_batch64_per_s = rate(Duration::from_millis(700), || {
        ed25519_dalek::verify_batch(&msgs, &sigs, &vks).expect("valid");
        64
    });
    let buf = vec![1u8; 1 << 20];
    let sha256_mb_per_s = rate(Duration::from_millis(500), || {
        std::hint::black_box(Sha256::digest(&buf));
        1
    });
    RawRates {
        verify_strict_per_s,
        verify_strict_all_cores_per_s,
        cores,
        verify_batch64_per_s,
        sha256_mb_per_s,
    }
}

/// Units per second of `f` (which returns how many units it did), over at least `min`.
fn rate(min: Duration, mut f: impl FnMut() -> u64) -> f64 {
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < min {
        n += f();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

impl RawRates {
    /// A rate of events or entries as ratios to one core's strict verification and to all
    /// cores' (the ceiling: each costs at least one `verify_strict`).
    pub(crate) fn ratio(&self, per_s: f64) -> String {
        format!(
            "{:.2}x one core's verify_strict, {:.2} of the {} cores' ceiling",
            per_s / self.verify_strict_per_s,
            per_s / self.verify_strict_all_cores_per_s,
            self.cores
        )
    }

    /// The CPU time (µs of one core) an entry carrying `signatures` signatures may take
    /// besides verifying them, when entries come at `target` times one core's `verify_strict`
    /// rate in signatures: the cores' time an entry has at that rate, less what verifying its
    /// signatures costs at the ceiling (every core verifying at once). Negative: the target
    /// is beyond the ceiling.
    pub(crate) fn left_beside_verifying(&self, target: f64, signatures: f64) -> f64 {
        let cores = self.cores as f64;
        let at_target = 1.0 / (target * self.verify_strict_per_s);
        let verifying = 1.0 / self.verify_strict_all_cores_per_s;
        cores * signatures * (at_target - verifying) * 1e6
    }
}

/// Which of curve25519-dalek's backends checks signatures in this binary on this CPU: the
/// crate picks at run time among those compiled in (`.cargo/config.toml` compiles the AVX-512
/// IFMA one in), and every rate above and below is that backend's.
fn arithmetic() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        let ifma = std::arch::is_x86_feature_detected!("avx512ifma")
            && std::arch::is_x86_feature_detected!("avx512vl");
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        if cfg!(any(
            curve25519_dalek_backend = "serial",
            curve25519_dalek_backend = "fiat"
        )) {
            return "portable (the build chose it: a RUSTFLAGS in the environment)";
        }
        match (cfg!(curve25519_dalek_backend = "avx512"), ifma, avx2) {
            (true, true, _) => "AVX-512 IFMA (compiled in, and this CPU has it)",
            (false, true, _) => {
                "AVX2: this CPU has AVX-512 IFMA but the build did not compile it in (a RUSTFLAGS \
                 in the environment replaces .cargo/config.toml's)"
            }
            (_, false, true) => "AVX2 (this CPU has no AVX-512 IFMA)",
            (_, false, false) => "portable 64-bit (this CPU has no AVX2)",
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        "portable (not x86-64)"
    }
}

pub(crate) fn print_raw(r: &RawRates) {
    println!("Ed25519 arithmetic (curve25519-dalek): {}", arithmetic());
    println!(
        "raw limits (one core): verify_strict {:.0}/s | batch-64 verify {:.0}/s | SHA-256 {:.0} MB/s",
        r.verify_strict_per_s, r.verify_batch64_per_s, r.sha256_mb_per_s
    );
    println!(
        "raw limit (all {} cores at once): verify_strict {:.0}/s = {:.2}x one core",
        r.cores,
        r.verify_strict_all_cores_per_s,
        r.verify_strict_all_cores_per_s / r.verify_strict_per_s
    );
}

/// A realistic custody-sized event (~500 bytes canonical), signed by `signers` parties.
pub fn sample_event(i: u64, keys: &[SigningKey]) -> SignedEvent {
    let body = json!({
        "type": "bench.handover",
        "seq": i,
        "manifest": format!("2026320500{:04}", i % 10_000),
        "from": "91320583MA1MXXXX0A",
        "to": "91320583MA2NYYYY1B",
        "vehicle": "苏E12345",
        "driver": "sha256:3f9a1c2b7d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4",
        "lines": [
            {"code": "900-249-08", "form": "liquid", "quantity": 1_234_000 + i % 1000, "unit": "g"},
            {"code": "900-041-49", "form": "solid", "quantity": 56_000, "unit": "g"}
        ],
        "place": {"site": "91320583MA2NYYYY1B", "lat_e6": 31_385_000, "lon_e6": 120_980_000},
        "at": "2026-11-28T08:30:00.000Z"
    });
    let refs: Vec<&SigningKey> = keys.iter().collect();
    SignedEvent::sign(body, &refs).expect("valid sample event")
}

/// A fresh log with `signers` registered party keys; returns the ledger and those keys.
pub fn fresh_log(dir: &std::path::Path, signers: usize) -> Result<(Ledger, Vec<SigningKey>)> {
    fresh_log_with(dir, signers, Config::default())
}

pub fn fresh_log_with(
    dir: &std::path::Path,
    signers: usize,
    cfg: Config,
) -> Result<(Ledger, Vec<SigningKey>)> {
    let authority = SigningKey::from_bytes(&[1; 32]);
    let genesis = Genesis::new(
        "bench.wasteledger/log",
        SigningKey::from_bytes(&[2; 32]),
        &authority,
        None,
    )?;
    let ledger = Ledger::create(
        dir,
        cfg,
        genesis,
        Arc::new(OpenRules),
        Arc::new(SystemClock),
    )?;
    let keys: Vec<SigningKey> = (0..signers)
        .map(|i| SigningKey::from_bytes(&[10 + i as u8; 32]))
        .collect();
    for k in &keys {
        let add = json!({"type": "key.added", "key": PublicKey(k.verifying_key()).to_string(), "holder": "bench party"});
        let ev = VerifiedEvent::check(SignedEvent::sign(add, &[&authority])?)?;
        ledger.submit_blocking(ev)?;
    }
    Ok((ledger, keys))
}

fn sign_all(from: u64, n: u64, keys: &[SigningKey]) -> Vec<SignedEvent> {
    let threads = cores() as u64;
    let per = n.div_ceil(threads);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (from + t * per..(from + (t + 1) * per).min(from + n))
                        .map(|i| sample_event(i, keys))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().expect("signing thread"))
            .collect()
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// What a closed log's trees hold, live (keys and values, as stored), by tree: beside the
/// directory's size, how much of the disk is the data and how much sled's log around it.
fn live_bytes(log: &std::path::Path) -> Result<Vec<(String, u64)>> {
    let db = sled::Config::new()
        .path(log.join("db"))
        .flush_every_ms(None)
        .open()?;
    let mut out = Vec::new();
    for name in db.tree_names() {
        let mut bytes = 0u64;
        for kv in db.open_tree(&name)?.iter() {
            let (k, v) = kv?;
            bytes += (k.len() + v.len()) as u64;
        }
        out.push((String::from_utf8_lossy(&name).into_owned(), bytes));
    }
    out.sort_by_key(|(_, b)| std::cmp::Reverse(*b));
    Ok(out)
}

/// Wait while the sequencer cleans sled's log (it does between batches once no event has come
/// for 1 ms, and syncs what it cleaned once none has come for 100 ms: `store/sequencer.rs`),
/// until what is in use has not moved for a second, and say how much of the file held data
/// before and after, and how long it took.
fn after_idle_cleaning(ledger: &crate::store::Ledger, size: u64) -> Result<String> {
    let before = ledger.log_space()?;
    let started = Instant::now();
    let (mut last, mut still) = (before, Instant::now());
    while still.elapsed() < std::time::Duration::from_secs(1)
        && started.elapsed() < std::time::Duration::from_secs(300)
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let now = ledger.log_space()?;
        if now != last {
            (last, still) = (now, Instant::now());
        }
    }
    let per = |b: u64| b as f64 / size.max(1) as f64;
    let t = ledger.commit_times();
    Ok(format!(
        "sled's log file: {:.0} bytes an entry in segments that hold data after the append, {:.0} once the sequencer had cleaned it with no event waiting ({:.1} s more), of a file of {:.0} bytes an entry (its free segments are written again before it grows); since the log opened the sequencer rewrote {} pages in {:.2} s between batches ({} right after a batch, to keep pace with what the batches wrote; the rest while no event waited)",
        per(before.in_use),
        per(last.in_use),
        (still - started).as_secs_f64(),
        per(last.file),
        t.cleaned_pages,
        t.cleaning.as_secs_f64(),
        t.paced_pages,
    ))
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

pub fn run(opts: Options) -> Result<()> {
    let tmp;
    let dir = match &opts.dir {
        Some(d) => d.clone(),
        None => {
            tmp = TempDir::new()?;
            tmp.0.clone()
        }
    };
    let raw = raw_rates();
    print_raw(&raw);
    println!(
        "cores: {}; events signed by {} part{}",
        raw.cores,
        opts.signers,
        if opts.signers == 1 { "y" } else { "ies" }
    );

    if opts.entries > 0 {
        core(&opts, &dir, &raw)?;
    }
    if opts.domain > 0 && opts.readers > 0 {
        let data = opts.data.clone().unwrap_or_else(|| dir.join("fixture"));
        readers::run(
            &data,
            opts.domain,
            opts.readers,
            opts.seconds,
            opts.cache_mb,
            &raw,
        )?;
    } else if let (true, Some(data), true) = (opts.domain > 0, &opts.data, opts.open_only) {
        fixture::open_only(data, opts.domain, opts.cache_mb)?;
    } else if let (true, Some(data)) = (opts.domain > 0, &opts.data) {
        fixture::run(data, opts.domain, opts.queries, opts.cache_mb)?;
    } else if opts.domain > 0 {
        domain::run(&dir.join("waste"), opts.domain, opts.cache_mb, &raw)?;
    }
    Ok(())
}

/// Events one at a time, each its own batch: what a batch costs at the least (the sled write
/// and fsync, then the published-checkpoint record's fdatasync), and that record's own share,
/// measured on a second record file in turns with the batches so both see the same disk.
fn one_at_a_time(
    ledger: &Ledger,
    keys: &[SigningKey],
    from: u64,
    dir: &std::path::Path,
) -> Result<()> {
    const N: u64 = 300;
    let events = VerifiedEvent::check_all(sign_all(from, N, keys), |_| {});
    let scratch = dir.join("record-bench");
    std::fs::create_dir_all(&scratch)?;
    store::published::create(&scratch)?;
    let mut record = store::published::Record::open(&scratch)?;
    let mut each = Vec::with_capacity(N as usize);
    let mut publish = Vec::with_capacity(N as usize);
    for e in events {
        let t = Instant::now();
        ledger.submit_blocking(e?)?;
        each.push(t.elapsed());
        let note = ledger.head().checkpoint;
        let t = Instant::now();
        record.publish(&note)?;
        publish.push(t.elapsed());
    }
    each.sort();
    publish.sort();
    let (batch, rec) = (percentile(&each, 0.5), percentile(&publish, 0.5));
    println!(
        "append one event at a time (each its own batch): p50 {batch:?} p99 {:?} = {:.0} events/s; the published-checkpoint record's fdatasync alone, in turns with them: p50 {rec:?} ({:.0}% of a batch's p50)",
        percentile(&each, 0.99),
        1.0 / batch.as_secs_f64(),
        100.0 * rec.as_secs_f64() / batch.as_secs_f64()
    );
    Ok(())
}

/// The bare signed log: append, disk, proofs, optionally HTTP, then the audit.
fn core(opts: &Options, dir: &std::path::Path, raw: &RawRates) -> Result<()> {
    // Append through the library: parallel batch signature checks, then the group-committing
    // sequencer (one fsync per batch). Signing is the clients' work and is not timed.
    let cfg = Config {
        cache_bytes: opts.cache_mb << 20,
        ..Config::default()
    };
    let (ledger, keys) = fresh_log_with(&dir.join("log"), opts.signers, cfg)?;
    let chunk = 20_000u64;
    let mut appended = 0u64;
    let mut busy = Duration::ZERO;
    let mut cpu = cpu::CpuUse::new();
    while appended < opts.entries {
        let n = chunk.min(opts.entries - appended);
        let events = sign_all(appended, n, &keys);
        let t = Instant::now();
        cpu.start();
        let receipts = ledger.append_all(events);
        cpu.stop();
        busy += t.elapsed();
        if let Some(Err(e)) = receipts.into_iter().find(|r| r.is_err()) {
            bail!("append failed: {e}");
        }
        appended += n;
    }
    let per_s = appended as f64 / busy.as_secs_f64();
    println!(
        "append (library, verify + durable group commit): {appended} events in {:.2}s = {per_s:.0} events/s ({}); {}",
        busy.as_secs_f64(),
        raw.ratio(per_s),
        cpu.report(),
    );

    one_at_a_time(&ledger, &keys, appended, dir)?;
    let bytes = dir_bytes(&dir.join("log"));
    let size = ledger.size();
    println!(
        "disk after the library append: {bytes} bytes for {size} entries = {:.0} bytes/entry (entries, Merkle nodes, indexes, sled's own overhead)",
        bytes as f64 / size as f64
    );
    println!("  {}", after_idle_cleaning(&ledger, size)?);

    // Proofs at this size: random indexes, p50/p99.
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut inc = Vec::with_capacity(10_000);
    let mut con = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let i = next() % size;
        let t = Instant::now();
        let p = ledger.inclusion_proof(i, size)?;
        inc.push(t.elapsed());
        std::hint::black_box(p);
        let from = 1 + next() % size;
        let t = Instant::now();
        let p = ledger.consistency_proof(from, size)?;
        con.push(t.elapsed());
        std::hint::black_box(p);
    }
    inc.sort();
    con.sort();
    println!(
        "proofs at {size} entries: inclusion p50 {:?} p99 {:?} | consistency p50 {:?} p99 {:?} (one SHA-256 of 64 B takes ~{:?})",
        percentile(&inc, 0.5),
        percentile(&inc, 0.99),
        percentile(&con, 0.5),
        percentile(&con, 0.99),
        Duration::from_secs_f64(64.0 / (raw.sha256_mb_per_s * 1e6))
    );
    // Sanity: the last proof verifies against the published checkpoint.
    let head = ledger.head();
    let cp = Checkpoint::open(&head.checkpoint, ledger.verifier())?;
    let leaf = ledger.leaf_hash(size - 1)?;
    merkle::verify_inclusion(
        size - 1,
        size,
        &leaf,
        &ledger.inclusion_proof(size - 1, size)?,
        &cp.root,
    )?;

    if opts.mirror {
        mirror::run(&ledger, dir, raw)?;
    }
    if opts.http {
        http_bench(&ledger, &keys, appended, opts, raw)?;
    }
    ledger.close()?;
    // Full audit of the stored log.
    let t = Instant::now();
    let mut cpu = cpu::CpuUse::started();
    let res = store::verify_in_place(&dir.join("log"), &OpenRules, &mut |_, _| {})?;
    let secs = t.elapsed().as_secs_f64();
    match res {
        Ok(s) => println!(
            "audit (every signature, chain, every Merkle node, checkpoint): {} entries in {secs:.2}s = {:.0} entries/s ({}); {}",
            s.size,
            s.size as f64 / secs,
            raw.ratio(s.size as f64 / secs),
            cpu.report(),
        ),
        Err(f) => bail!("audit failed: {f}"),
    }
    print_raw(&raw_rates());
    Ok(())
}

fn http_bench(
    ledger: &Ledger,
    keys: &[SigningKey],
    first: u64,
    opts: &Options,
    raw: &RawRates,
) -> Result<()> {
    let served = Served::start(ledger)?;
    let events = sign_all(first + 10_000_000, opts.http_events, keys);
    let bodies: Vec<Vec<u8>> = events.iter().map(|e| e.to_bytes()).collect();
    let per_client = bodies.len().div_ceil(opts.http_clients);
    let base = served.base.clone();
    let t = Instant::now();
    let commits = ledger.commit_times();
    let mut cpu = cpu::CpuUse::started();
    let mut lat: Vec<Duration> = std::thread::scope(|s| {
        let hs: Vec<_> = bodies
            .chunks(per_client)
            .map(|part| {
                let base = base.clone();
                s.spawn(move || {
                    let c = crate::client::LogClient::new(&base);
                    part.iter()
                        .map(|b| {
                            let t = Instant::now();
                            let a = c.post("/v1/events", b).expect("post");
                            assert_eq!(a.status, 201, "{}", a.body);
                            t.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().expect("client thread"))
            .collect()
    });
    let secs = t.elapsed().as_secs_f64();
    lat.sort();
    let per_s = lat.len() as f64 / secs;
    println!(
        "append (HTTP loopback, {} clients on this machine): {} events in {secs:.2}s = {per_s:.0} events/s ({}); ack p50 {:?} p99 {:?}; server and clients: {}; {}",
        opts.http_clients,
        lat.len(),
        raw.ratio(per_s),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        cpu.report(),
        committing(ledger.commit_times() - commits, t.elapsed()),
    );
    if let Err(e) = wrk_bench(
        ledger,
        &base,
        keys,
        first + 20_000_000,
        opts,
        raw,
        &dir_for_wrk(opts),
    ) {
        println!("append (HTTP loopback, wrk): not measured ({e})");
    }
    served.stop();
    Ok(())
}

/// The HTTP server on loopback in a thread of its own: its base URL, and a stop.
pub(crate) struct Served {
    pub base: String,
    handle: actix_web::dev::ServerHandle,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
}

impl Served {
    pub(crate) fn start(ledger: &Ledger) -> Result<Self> {
        let opts = crate::http::Options {
            workers: 2,
            ..crate::http::Options::default()
        };
        Self::start_with(ledger, None, opts)
    }

    /// The server as `serve` runs it: `domain`'s routes too, and `opts`.
    pub(crate) fn start_with(
        ledger: &Ledger,
        domain: Option<crate::domain::DomainRules>,
        opts: crate::http::Options,
    ) -> Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server_ledger = ledger.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let srv = crate::http::server_with_options(server_ledger, domain, listener, opts)
                    .expect("server");
                tx.send(srv.handle()).expect("handle");
                srv.await
            })
        });
        Ok(Served {
            base: format!("http://{addr}"),
            handle: rx.recv()?,
            thread,
        })
    }

    pub(crate) fn stop(self) {
        actix_web::rt::System::new().block_on(self.handle.stop(true));
        let _ = self.thread.join();
    }
}

fn dir_for_wrk(opts: &Options) -> PathBuf {
    opts.dir.clone().unwrap_or_else(std::env::temp_dir)
}

/// Where the sequencer's wall time went in a phase of `wall`: with every acknowledgement
/// waiting for its batch to be durable, a closed loop of clients is held to the batches the
/// sequencer can make durable one after the other, whatever the cores could verify.
fn committing(c: crate::store::CommitTimes, wall: Duration) -> String {
    let wall = wall.as_secs_f64().max(1e-9);
    format!(
        "the sequencer committing {:.2} of the time, {:.2} waiting for the disk ({} batches, {:.0} events a batch on average, the disk {:.0} µs a batch)",
        c.busy.as_secs_f64() / wall,
        c.durable.as_secs_f64() / wall,
        c.batches,
        c.events as f64 / c.batches.max(1) as f64,
        c.durable.as_secs_f64() * 1e6 / c.batches.max(1) as f64,
    )
}

/// Posts pre-signed bodies, each once, from a file (wrk's Lua runs one state per thread).
const WRK_SCRIPT: &str = r#"
local counter = 0
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function init(args)
  bodies = {}
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  step = tonumber(args[2]); n = id + 1
  wrk.method = "POST"; wrk.headers["Content-Type"] = "application/json"
end
function request()
  local b = bodies[n] or "{}"
  n = n + step
  return wrk.format(nil, "/v1/events", nil, b)
end
"#;

/// The same server under `wrk` (an event-driven C load generator, when installed): the ureq
/// client threads above cost this 2-core machine more CPU than the server does.
fn wrk_bench(
    ledger: &Ledger,
    base: &str,
    keys: &[SigningKey],
    first: u64,
    opts: &Options,
    raw: &RawRates,
    dir: &std::path::Path,
) -> Result<()> {
    let threads = 2;
    let seconds = 5;
    let probe = std::process::Command::new("wrk").arg("--version").output();
    if probe.is_err() {
        bail!("wrk is not installed; `apt-get install wrk` to include it");
    }
    // Enough bodies for the run at 30,000/s, well over the target; each is posted once (once
    // they run out, wrk posts `{}`, and its refusals void the run).
    let n = (opts.http_events * 3).max(30_000 * seconds);
    let bodies_path = dir.join(format!("wrk-bodies-{first}.ndjson"));
    let script_path = dir.join(format!("wrk-post-{first}.lua"));
    let mut text = Vec::new();
    for e in sign_all(first, n, keys) {
        text.extend_from_slice(&e.to_bytes());
        text.push(b'\n');
    }
    std::fs::write(&bodies_path, text)?;
    std::fs::write(&script_path, WRK_SCRIPT)?;
    let commits = ledger.commit_times();
    let mut cpu = cpu::CpuUse::started();
    let (wrk_started, wrk_before) = (Instant::now(), cpu::children_cpu());
    let out = std::process::Command::new("wrk")
        .args([
            "-t",
            &threads.to_string(),
            "-c",
            &opts.http_clients.to_string(),
            "-d",
            &format!("{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(&script_path)
        .arg(base)
        .arg("--")
        .arg(&bodies_path)
        .arg(threads.to_string())
        .output()?;
    let server = cpu.report();
    let commits = committing(ledger.commit_times() - commits, wrk_started.elapsed());
    let wrk_cores = (cpu::children_cpu().saturating_sub(wrk_before)).as_secs_f64()
        / wrk_started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&bodies_path);
    let _ = std::fs::remove_file(&script_path);
    let w = WrkReport::parse(&String::from_utf8_lossy(&out.stdout))?;
    println!(
        "append (HTTP loopback, wrk {threads} threads, {} connections, same machine): {:.0} events/s ({}); ack {} | {}; the server {server}, wrk {wrk_cores:.2} cores; {commits}",
        opts.http_clients,
        w.rps,
        raw.ratio(w.rps),
        w.p50,
        w.p99
    );
    Ok(())
}

/// What a `wrk --latency` run reports: requests/s and the median and p99 lines as printed.
pub(crate) struct WrkReport {
    pub rps: f64,
    pub p50: String,
    pub p99: String,
}

impl WrkReport {
    pub(crate) fn parse(report: &str) -> Result<WrkReport> {
        let find = |label: &str| {
            report
                .lines()
                .find(|l| l.trim_start().starts_with(label))
                .map(|l| l.trim().to_string())
        };
        if let Some(bad) = find("Non-2xx") {
            bail!("wrk saw refusals: {bad}");
        }
        let rps: f64 = find("Requests/sec:")
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no Requests/sec in wrk's report: {report}"))?;
        Ok(WrkReport {
            rps,
            p50: find("50%").unwrap_or_default(),
            p99: find("99%").unwrap_or_default(),
        })
    }
}

/// A scratch directory removed on drop (the bench needs no tempfile dependency).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix)?;
        let p = std::env::temp_dir().join(format!("wasteledger-bench-{}", hex::encode(suffix)));
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Wait for the integrity sweep the open at `opened` (`open_secs` long) started, and print
/// how long it took: the figures measured after it are then not shared with it.
pub(crate) fn sweep_after_open(ledger: &Ledger, opened: Instant, open_secs: f64) {
    let found = ledger.wait_for_integrity(std::time::Duration::from_secs(24 * 3600));
    let swept = opened.elapsed().as_secs_f64() - open_secs;
    let size = ledger.size();
    println!(
        "integrity sweep after open (every entry, chain, key rules, tree edge, index sizes; the log serves meanwhile): {size} entries in {swept:.1}s = {:.0} entries/s: {found:?}",
        size as f64 / swept
    );
}

#[cfg(test)]
mod tests {
    /// What verifying leaves of the cores at a target: with one core verifying 26,354/s and
    /// two 49,988/s, an entry of 1.4 signatures at 1.5x one core's rate in signatures has
    /// 70.8 µs of the two cores, 56.0 of which verify it; at the ceiling nothing is left, and
    /// beyond it less than nothing.
    #[test]
    fn what_verifying_leaves_of_the_cores_at_a_target() {
        let raw = super::RawRates {
            verify_strict_per_s: 26_354.0,
            verify_strict_all_cores_per_s: 49_988.0,
            cores: 2,
            verify_batch64_per_s: 1.0,
            sha256_mb_per_s: 1.0,
        };
        let left = raw.left_beside_verifying(1.5, 1.4);
        assert!((left - 14.8).abs() < 0.05, "{left}");
        let at_ceiling = 49_988.0 / 26_354.0;
        assert!(raw.left_beside_verifying(at_ceiling, 1.4).abs() < 1e-9);
        assert!(raw.left_beside_verifying(2.0, 1.0) < 0.0);
    }

    /// The live bytes are every tree's keys and values as stored, named by tree, largest first:
    /// what is left once a key is overwritten or removed is not counted.
    #[test]
    fn live_bytes_count_what_the_trees_hold_now() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path().join("db")).unwrap();
            let t = db.open_tree("domain").unwrap();
            t.insert(b"k1", vec![0u8; 100]).unwrap();
            t.insert(b"k1", vec![0u8; 10]).unwrap();
            t.insert(b"k2", vec![0u8; 1000]).unwrap();
            t.remove(b"k2").unwrap();
            db.open_tree("entries")
                .unwrap()
                .insert(b"e", vec![0u8; 40])
                .unwrap();
            db.flush().unwrap();
        }
        let live = super::live_bytes(dir.path()).unwrap();
        assert_eq!(live[0], ("entries".to_string(), 41));
        assert_eq!(live[1], ("domain".to_string(), 12));
        assert!(live[2..].iter().all(|(_, b)| *b == 0), "{live:?}");
    }
}
