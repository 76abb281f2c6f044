//! The waste domain under load: a synthetic Kunshan of plants, haulers with trucks, and
//! licensed receivers, moving manifests through their whole life (issue, pickup hand-over,
//! delivery hand-over, receipt, treatment: five entries and seven signatures per manifest) into
//! a log whose genesis names the waste rulebook. Measures the append rate with the domain fold
//! in the sequencer, the replay of the domain state when the log opens, the process's resident
//! memory, and the full audit with the rules.

use super::cpu::{thread_cpu, CpuUse};
use super::{print_raw, raw_rates, RawRates};
use crate::domain::codes::Uscc;
use crate::domain::{self, DomainRules, RULEBOOK};
use crate::ledger::event::{PublicKey, SignedEvent};
use crate::ledger::state::Rules;
use crate::store::{self, Config, Genesis, Ledger, Receipt, SystemClock};
use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many of each party the synthetic city has.
pub const PLANTS: usize = 200;
pub const HAULERS: usize = 20;
pub const TRUCKS_PER_HAULER: usize = 5;
pub const RECEIVERS: usize = 10;

/// A deterministic party: its USCC, its key, and its site id.
pub struct Actor {
    pub id: String,
    pub key: SigningKey,
    pub site: String,
}

fn actor(kind: &str, i: usize) -> Actor {
    let seed: [u8; 32] = Sha256::digest(format!("wasteledger bench {kind} {i}")).into();
    // `91320583` + 9 characters (kind letter + 8 digits) + the check character.
    let letter = match kind {
        "plant" => 'P',
        "hauler" => 'H',
        _ => 'R',
    };
    let first17 = format!("91320583{letter}{i:08}");
    let check = Uscc::check_char(&first17).expect("digits and a capital are in the alphabet");
    Actor {
        id: format!("{first17}{check}"),
        key: SigningKey::from_bytes(&seed),
        site: format!("S-{}-{i}", kind.to_uppercase()),
    }
}

/// The synthetic city: who exists, and the events that make each manifest's life.
pub struct City {
    pub authority: SigningKey,
    pub plants: Vec<Actor>,
    pub haulers: Vec<Actor>,
    pub receivers: Vec<Actor>,
}

impl City {
    pub fn new(authority: SigningKey) -> City {
        City {
            authority,
            plants: (0..PLANTS).map(|i| actor("plant", i)).collect(),
            haulers: (0..HAULERS).map(|i| actor("hauler", i)).collect(),
            receivers: (0..RECEIVERS).map(|i| actor("receiver", i)).collect(),
        }
    }

    pub fn plate(hauler: usize, truck: usize) -> String {
        format!("苏E{hauler:02}{truck:03}")
    }

    /// The authority's registry events: parties, keys, sites, licences, trucks.
    pub fn registry(&self) -> Vec<SignedEvent> {
        let a = &self.authority;
        let (from, until) = ("2024-01-01T00:00:00Z", "2031-01-01T00:00:00Z");
        let mut out = Vec::new();
        let mut add = |body: Value| {
            out.push(SignedEvent::sign(body, &[a]).expect("registry event signs"));
        };
        // Haulers register no site: their trucks are what the registry knows of them.
        let groups: [(&[Actor], &str, Option<&str>); 3] = [
            (&self.plants, "generator", Some("plant")),
            (&self.haulers, "hauler", None),
            (&self.receivers, "receiver", Some("disposal")),
        ];
        for (actors, role, site_kind) in groups {
            for (i, p) in actors.iter().enumerate() {
                add(
                    json!({"type": "party.registered", "party": p.id, "name": format!("bench {role} {i}"), "roles": [role]}),
                );
                add(
                    json!({"type": "key.added", "key": PublicKey(p.key.verifying_key()).to_string(), "holder": p.id}),
                );
                let Some(site_kind) = site_kind else { continue };
                let (lat, lon) = (
                    31_300_000 + i as i64 * 1_000,
                    120_900_000 + i as i64 * 1_000,
                );
                add(
                    json!({"type": "site.registered", "site": p.site, "party": p.id, "kind": site_kind,
                    "name": format!("{site_kind} {i}"), "location": {"lat_e6": lat, "lon_e6": lon},
                    "geofence": [{"lat_e6": lat - 500, "lon_e6": lon - 500}, {"lat_e6": lat - 500, "lon_e6": lon + 500},
                                 {"lat_e6": lat + 500, "lon_e6": lon + 500}, {"lat_e6": lat + 500, "lon_e6": lon - 500}]}),
                );
            }
        }
        for (i, h) in self.haulers.iter().enumerate() {
            add(
                json!({"type": "licence.granted", "licence": format!("L-H{i}"), "party": h.id, "kind": "hw_transport",
                       "valid_from": from, "valid_until": until}),
            );
            for t in 0..TRUCKS_PER_HAULER {
                let plate = Self::plate(i, t);
                add(
                    json!({"type": "vehicle.registered", "plate": plate, "party": h.id,
                    "permits": [{"kind": "hazardous_goods", "number": format!("P-{i}-{t}"), "valid_from": from, "valid_until": until}]}),
                );
            }
        }
        for (i, r) in self.receivers.iter().enumerate() {
            add(
                json!({"type": "licence.granted", "licence": format!("L-R{i}"), "party": r.id, "kind": "hw_operating",
                       "categories": ["HW08", "HW49"], "valid_from": from, "valid_until": until}),
            );
        }
        out
    }

    /// Who takes part in manifest `n`: (plant, hauler, truck, receiver).
    fn cast(&self, n: u64) -> (&Actor, &Actor, String, &Actor) {
        let h = (n / 7) as usize % HAULERS;
        (
            &self.plants[n as usize % PLANTS],
            &self.haulers[h],
            Self::plate(h, (n / 3) as usize % TRUCKS_PER_HAULER),
            &self.receivers[(n / 11) as usize % RECEIVERS],
        )
    }

    fn quantities(n: u64) -> (u64, u64) {
        (200_000 + (n % 97) * 1_000, 40_000 + (n % 13) * 500)
    }

    /// The plant issues manifest `n` (its own reference `BENCH-n`).
    pub fn issue(&self, n: u64) -> SignedEvent {
        let (plant, hauler, _, receiver) = self.cast(n);
        let (oil, rags) = Self::quantities(n);
        let body = json!({
            "type": "manifest.issued", "reference": format!("BENCH-{n}"), "stream": "hazardous",
            "generator": plant.id, "origin": plant.site, "destination": receiver.site, "haulers": [hauler.id],
            "lines": [
                {"code": "900-249-08", "name": "废矿物油 waste mineral oil", "form": "liquid", "hazards": ["T", "I"],
                 "containers": [{"id": "D1", "packaging": "200 L steel drum"}], "quantity": {"amount": oil, "unit": "g"}},
                {"code": "900-041-49", "name": "含油抹布 oily rags", "form": "solid", "hazards": ["T", "In"],
                 "containers": [{"id": "B1", "packaging": "ton bag"}], "quantity": {"amount": rags, "unit": "g"}}
            ]
        });
        SignedEvent::sign(body, &[&plant.key]).expect("issue signs")
    }

    /// The driver of manifest `n`: one of the two drivers of its truck, by the commitment the
    /// hand-overs carry (the clear value never reaches the log).
    pub fn driver(n: u64) -> String {
        let h = (n / 7) as usize % HAULERS;
        let t = (n / 3) as usize % TRUCKS_PER_HAULER;
        Self::driver_of(h, t, (n / 5) % 2)
    }

    pub fn driver_of(hauler: usize, truck: usize, shift: u64) -> String {
        hex::encode(Sha256::digest(format!(
            "salt {hauler} {truck} {shift}|driver {hauler}-{truck}-{shift}"
        )))
    }

    /// Who takes part in manifest `n`: (plant, hauler, plate, receiver) ids.
    pub fn cast_ids(&self, n: u64) -> (String, String, String, String) {
        let (p, h, plate, r) = self.cast(n);
        (p.id.clone(), h.id.clone(), plate, r.id.clone())
    }

    /// The rest of manifest `n`'s life once the log has numbered it `number`: pickup, delivery,
    /// receipt, treatment.
    pub fn lifecycle(&self, n: u64, number: &str) -> [SignedEvent; 4] {
        self.lifecycle_at(n, number, "2026-11-23T08:30:00Z", "2026-11-23T10:30:00Z")
    }

    /// The same, with the hand-overs' own times.
    pub fn lifecycle_at(
        &self,
        n: u64,
        number: &str,
        pickup_at: &str,
        delivery_at: &str,
    ) -> [SignedEvent; 4] {
        let (plant, hauler, plate, receiver) = self.cast(n);
        let (oil, rags) = Self::quantities(n);
        let lines = json!([{"line": 0, "quantity": {"amount": oil, "unit": "g"}},
                           {"line": 1, "quantity": {"amount": rags, "unit": "g"}}]);
        let driver = Self::driver(n);
        let hand = |from: &Actor, to: &Actor, site: &str, at: &str| {
            SignedEvent::sign(
                json!({"type": "custody.handover", "manifest": number, "from": from.id, "to": to.id,
                       "vehicle": plate, "driver": driver, "site": site, "at": at, "lines": lines}),
                &[&from.key, &to.key],
            )
            .expect("hand-over signs")
        };
        [
            hand(plant, hauler, &plant.site, pickup_at),
            hand(hauler, receiver, &receiver.site, delivery_at),
            SignedEvent::sign(
                json!({"type": "custody.received", "manifest": number, "lines": [
                    {"line": 0, "accepted": {"amount": oil, "unit": "g"}, "rejected": {"amount": 0, "unit": "g"}},
                    {"line": 1, "accepted": {"amount": rags, "unit": "g"}, "rejected": {"amount": 0, "unit": "g"}}]}),
                &[&receiver.key],
            )
            .expect("receipt signs"),
            SignedEvent::sign(
                json!({"type": "custody.treated", "manifest": number, "line": 0, "code": "R9",
                       "quantity": {"amount": oil, "unit": "g"}}),
                &[&receiver.key],
            )
            .expect("treatment signs"),
        ]
    }
}

/// What the batches wrote to the read model an entry: each key a sled insert of its own, which
/// is what the fold costs the store beside the entries (README, "Benchmarks").
fn read_model_written(c: &store::CommitTimes) -> String {
    let entries = c.events.max(1) as f64;
    format!(
        "the read model written with them: {:.2} keys and {:.0} bytes an entry ({} keys in {} batches)",
        c.read_model_keys as f64 / entries,
        c.read_model_bytes as f64 / entries,
        c.read_model_keys,
        c.batches
    )
}

/// Where the sequencer's time went an entry (its own timings, `store::CommitTimes`), beside
/// what the append's target leaves the cores besides verifying: everything the sequencer does
/// must fit in that, on top of the intake's decoding (README, "Benchmarks").
fn sequencer_time(c: &store::CommitTimes, raw: &RawRates) -> String {
    let per = |d: Duration| d.as_secs_f64() * 1e6 / c.events.max(1) as f64;
    format!(
        "the sequencer's time an entry: {:.1} µs preparing the batch (each event ordered and folded by the log's and the waste rules, the fold's writes encoded, the checkpoint signed), {:.1} µs writing it (sled's transaction of every tree, its batches made ready first), {:.1} µs making it durable (sled's flush and fdatasync, the published checkpoint's record); at {TARGET}x one core's verify_strict in signatures ({SIGNATURES_AN_ENTRY:.2} an entry), verifying them at this run's ceiling leaves the {} cores {:.1} µs an entry for all that is not verifying",
        per(c.prepare),
        per(c.write),
        per(c.durable),
        raw.cores,
        raw.left_beside_verifying(TARGET, SIGNATURES_AN_ENTRY),
    )
}

/// Sign on every core: `f(i)` for each i in `range`, in order.
pub(super) fn par_map<T: Send>(range: std::ops::Range<u64>, f: impl Fn(u64) -> T + Sync) -> Vec<T> {
    let items: Vec<u64> = range.collect();
    crate::ledger::parallel::par_chunks(&items, 1, |c| c.iter().map(|&i| f(i)).collect())
}

/// Resident memory of this process in bytes (Linux), if known.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn mib(b: Option<u64>) -> String {
    b.map(|b| format!("{:.0} MiB", b as f64 / (1 << 20) as f64))
        .unwrap_or_else(|| "?".into())
}

pub(super) fn rules() -> DomainRules {
    DomainRules::new(
        domain::catalog::Catalog::builtin(),
        domain::model::Limits::default(),
    )
}

/// The demo city's log key and the city (its authority and parties), the same in every run.
pub(super) fn keys() -> (SigningKey, City) {
    (
        SigningKey::from_bytes(&[2; 32]),
        City::new(SigningKey::from_bytes(&[1; 32])),
    )
}

/// The manifest number each `manifest.issued` entry created, from their receipts.
pub(super) fn created_numbers(receipts: &[Receipt]) -> Result<Vec<String>> {
    receipts
        .iter()
        .map(|r| {
            r.created
                .first()
                .cloned()
                .context("an issue created no manifest")
        })
        .collect()
}

/// Append `events` durably with full checks: how long it took, and their receipts.
pub(super) fn append(
    ledger: &Ledger,
    events: Vec<SignedEvent>,
    what: &str,
) -> Result<(Duration, Vec<Receipt>)> {
    let t = Instant::now();
    let receipts = ledger.append_all(events);
    let took = t.elapsed();
    let receipts = receipts
        .into_iter()
        .map(|r| r.map_err(|e| anyhow::anyhow!("{what} refused: {e}")))
        .collect::<Result<Vec<_>>>()?;
    Ok((took, receipts))
}

/// The target for the append and the audit with the waste rules (issue 17), in signatures a
/// second as a multiple of one core's `verify_strict`.
const TARGET: f64 = 1.5;

/// The signatures of the appended entries, an entry: a manifest's issue, receipt and treatment
/// signed by one party each, its two hand-overs by two (7 in 5 entries).
const SIGNATURES_AN_ENTRY: f64 = 1.4;

/// Carry `manifests` manifests through their life on a fresh waste log in `dir`, then reopen
/// and audit it. Prints each figure beside the raw limits measured in the same run.
pub fn run(dir: &Path, manifests: u64, cache_mb: u64, raw: &RawRates) -> Result<()> {
    let cfg = Config {
        cache_bytes: cache_mb << 20,
        ..Config::default()
    };
    let (log_key, city) = keys();
    let live = rules();
    let genesis = Genesis::new(
        "bench.wasteledger/waste",
        log_key.clone(),
        &city.authority,
        Some(RULEBOOK),
    )?;
    let rss_before = resident_bytes();
    let ledger = Ledger::create(
        dir,
        cfg.clone(),
        genesis,
        Arc::new(live.clone()),
        Arc::new(SystemClock),
    )?;
    append(&ledger, city.registry(), "registry")?;

    let cpu_before = thread_cpu("sequencer");
    let commits = ledger.commit_times();
    let chunk = 4_000u64;
    let mut busy = Duration::ZERO;
    // Only the appends: making and signing the events is the clients' work.
    let mut cpu = CpuUse::new();
    let mut entries = 0u64;
    let mut done = 0u64;
    while done < manifests {
        let n = chunk.min(manifests - done);
        let issues = par_map(done..done + n, |i| city.issue(i));
        cpu.start();
        let (t, receipts) = append(&ledger, issues, "manifest.issued")?;
        cpu.stop();
        busy += t;
        let numbers = created_numbers(&receipts)?;
        let rest = par_map(done..done + n, |i| {
            city.lifecycle(i, &numbers[(i - done) as usize])
        });
        // Each step for the whole chunk, in order: all pickups, then all deliveries, ...
        for step in 0..4 {
            let events: Vec<SignedEvent> = rest.iter().map(|r| r[step].clone()).collect();
            cpu.start();
            let (t, _) = append(&ledger, events, "lifecycle step")?;
            cpu.stop();
            busy += t;
        }
        entries += 5 * n;
        done += n;
    }
    let per_s = entries as f64 / busy.as_secs_f64();
    let cpu_after = thread_cpu("sequencer");
    let commits = ledger.commit_times() - commits;
    let rss_live = resident_bytes();
    {
        let d = live.read();
        if d.manifest_count() as u64 != manifests {
            bail!(
                "{} manifests in the state, {manifests} carried",
                d.manifest_count()
            );
        }
    }
    println!(
        "domain append (library, verify + waste rules + durable group commit): {manifests} manifests, {entries} entries (7 signatures per 5 entries) in {:.2}s = {per_s:.0} entries/s ({}; {:.0} signatures/s = {}); {}",
        busy.as_secs_f64(),
        raw.ratio(per_s),
        per_s * SIGNATURES_AN_ENTRY,
        raw.ratio(per_s * SIGNATURES_AN_ENTRY),
        cpu.report(),
    );
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        let seq = (after - before).as_secs_f64() * 1e6 / entries as f64;
        println!(
            "  the sequencer's own CPU (steadier than the rate on a shared machine; the signatures are checked on the other threads): {seq:.0} µs per entry, at most {:.0} entries/s with a core of its own",
            1e6 / seq
        );
    }
    println!("  {}", sequencer_time(&commits, raw));
    println!("  {}", read_model_written(&commits));
    println!(
        "resident memory: {} before the log, {} with {manifests} manifests in the read model (sled cache {cache_mb} MiB)",
        mib(rss_before),
        mib(rss_live)
    );
    let size = ledger.size();
    let bytes = super::dir_bytes(dir);
    println!(
        "disk after the append: {bytes} bytes for {size} entries = {:.0} bytes/entry (entries, Merkle nodes, the read model, indexes, sled's own overhead)",
        bytes as f64 / size.max(1) as f64
    );
    println!("  {}", super::after_idle_cleaning(&ledger, size)?);
    ledger.close()?;
    drop(live);
    let live = super::live_bytes(dir)?;
    let total: u64 = live.iter().map(|(_, b)| b).sum();
    let per = |b: u64| b as f64 / size.max(1) as f64;
    let trees: Vec<String> = live
        .iter()
        .filter(|(_, b)| per(*b) >= 1.0)
        .map(|(name, b)| format!("{name} {:.0}", per(*b)))
        .collect();
    println!(
        "  of which live in the trees (keys and values as stored): {:.0} bytes an entry ({}); the rest is sled's log around them",
        per(total),
        trees.join(", ")
    );

    // Reopen: the read model is resumed where it stands.
    let again = rules();
    let t = Instant::now();
    let ledger = Ledger::open(
        dir,
        cfg,
        log_key,
        Arc::new(again.clone()),
        Arc::new(SystemClock),
    )?;
    let secs = t.elapsed().as_secs_f64();
    let folded = again.read().manifest_count();
    println!(
        "open (the read model resumed where it stands; only the entries that change the log's keys read): {size} entries, {folded} manifests in {secs:.2}s"
    );
    super::sweep_after_open(&ledger, t, secs);
    {
        // The anomaly detectors' full scan of the replayed state.
        use crate::investigate::detectors::{detect, DetectorConfig};
        let d = again.read();
        let now = crate::ledger::time::Timestamp::from_system_time(std::time::SystemTime::now());
        let t = Instant::now();
        let found = detect(&*d, now, &DetectorConfig::default());
        let secs = t.elapsed().as_secs_f64();
        println!(
            "anomaly detectors, full scan (the rules about one manifest read from the watched ones): {folded} manifests and {} vehicle fixes in {secs:.2}s = {:.0} manifests/s; {} anomalies",
            d.fix_count(),
            folded as f64 / secs,
            found.len()
        );
        let t = Instant::now();
        let by_scan =
            crate::investigate::detectors::detect_by_scan(&*d, now, &DetectorConfig::default());
        println!(
            "anomaly detectors, every manifest judged (the reference): {:.2}s; the same anomalies: {}",
            t.elapsed().as_secs_f64(),
            by_scan == found
        );
        let parts: Vec<String> =
            crate::investigate::detectors::scan_parts(&*d, now, &DetectorConfig::default())
                .into_iter()
                .map(|(what, s)| format!("{what} {s:.2}s"))
                .collect();
        println!(
            "anomaly detectors, where a scan's time goes: {}",
            parts.join(", ")
        );
        // The rules about one manifest, each kind read alone from the manifests the fold
        // watches for it (what GET /v1/anomalies?kind=... makes per request).
        {
            use crate::investigate::detectors::{
                detect_filtered, watched_kind, AnomalyKind, Filter,
            };
            let cfg = DetectorConfig::default();
            let kinds: Vec<String> = AnomalyKind::ALL
                .into_iter()
                .filter(|k| watched_kind(*k))
                .map(|k| {
                    let f = Filter {
                        kind: Some(k),
                        ..Filter::default()
                    };
                    let t = Instant::now();
                    let n = detect_filtered(&*d, now, &cfg, &f).len();
                    format!(
                        "{} {n} in {:.1} ms",
                        k.as_str(),
                        t.elapsed().as_secs_f64() * 1e3
                    )
                })
                .collect();
            println!(
                "anomaly detectors, one kind read from the watched manifests: {}",
                kinds.join(", ")
            );
        }
        // One manifest's own (what GET /v1/manifests/{number} adds), and every anomaly naming
        // it (aggregates included), for a sample.
        use crate::investigate::detectors::{detect_for_manifest, manifest_own};
        let sample: Vec<_> = d
            .manifest_numbers()
            .into_iter()
            .step_by((folded / 200).max(1))
            .collect();
        let cfg = DetectorConfig::default();
        let time = |f: &dyn Fn(&crate::domain::codes::ManifestNumber)| {
            let t = Instant::now();
            for n in &sample {
                f(n);
            }
            t.elapsed().as_secs_f64() * 1e3 / sample.len().max(1) as f64
        };
        let own = time(&|n| {
            manifest_own(&*d, n, now, &cfg);
        });
        let all = time(&|n| {
            detect_for_manifest(&*d, n, now, &cfg);
        });
        println!(
            "anomaly detectors, one manifest (mean of {}): its own {own:.3} ms; with the aggregates it is counted in {all:.1} ms",
            sample.len()
        );
    }
    ledger.close()?;

    let t = Instant::now();
    let mut cpu = CpuUse::started();
    let res = store::verify_in_place(dir, &rules() as &dyn Rules, &mut |_, _| {})?;
    let secs = t.elapsed().as_secs_f64();
    let audited = match res {
        Ok(s) => s,
        Err(f) => bail!("audit failed: {f}"),
    };
    let per_s = audited.size as f64 / secs;
    let signatures = audited.signatures as f64 / audited.size.max(1) as f64;
    println!(
        "audit with the waste rules (signatures, chain, Merkle nodes, checkpoint, every rule): {} entries in {secs:.2}s = {per_s:.0} entries/s ({}; {:.0} signatures/s = {}); {}",
        audited.size,
        raw.ratio(per_s),
        per_s * signatures,
        raw.ratio(per_s * signatures),
        cpu.report(),
    );
    // What the cores must do besides verifying, against what verifying leaves them at the
    // target (issue 17: 1.5x one core's `verify_strict`, in signatures).
    // Three times, the median quoted: on a shared machine one run can be slowed by half.
    let mut runs = Vec::new();
    for _ in 0..3 {
        let Some((n, took, root)) = store::besides_signatures(dir, &rules() as &dyn Rules)? else {
            break;
        };
        if (n, root) != (audited.size, audited.root) {
            bail!(
                "the fold without signatures ended at {n} entries and another root than the audit"
            );
        }
        runs.push(took.as_secs_f64() * 1e6 / n.max(1) as f64);
    }
    if !runs.is_empty() {
        let each: Vec<String> = runs.iter().map(|us| format!("{us:.1}")).collect();
        runs.sort_by(f64::total_cmp);
        println!(
            "  besides the signatures, on one thread (decoding, the order checks, the Merkle tree, every rule; the read model in memory, no store): {:.1} µs an entry (median of {}, {} µs); at {TARGET}x one core's verify_strict in signatures ({signatures:.2} an entry), verifying them at this run's ceiling leaves the {} cores {:.1} µs an entry",
            runs[runs.len() / 2],
            runs.len(),
            each.join(", "),
            raw.cores,
            raw.left_beside_verifying(TARGET, signatures),
        );
    }
    print_raw(&raw_rates());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh waste log in `dir`, its city's registry appended.
    fn waste_log(dir: &Path) -> (Ledger, City) {
        let (log_key, city) = keys();
        let genesis = Genesis::new(
            "test.wasteledger/waste",
            log_key,
            &city.authority,
            Some(RULEBOOK),
        )
        .unwrap();
        let ledger = Ledger::create(
            dir,
            Config::default(),
            genesis,
            Arc::new(rules()),
            Arc::new(SystemClock),
        )
        .unwrap();
        append(&ledger, city.registry(), "registry").unwrap();
        (ledger, city)
    }

    /// The batches count what they write to the read model: a manifest's issue writes at least
    /// its record, and each of its steps rewrites it; a log without the waste rules writes none.
    /// Their time is counted in its three parts, which together fit in the whole.
    #[test]
    fn commit_times_count_the_read_model_written_with_each_batch() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, city) = waste_log(&dir.path().join("log"));
        let before = ledger.commit_times();
        let issues: Vec<SignedEvent> = (0..20).map(|i| city.issue(i)).collect();
        let (_, receipts) = append(&ledger, issues, "manifest.issued").unwrap();
        let issued = ledger.commit_times() - before;
        assert_eq!(issued.events, 20);
        // Each issue: the manifest's record, its rows by party, its serial and counts at least.
        assert!(issued.read_model_keys >= 2 * 20, "{issued:?}");
        assert!(issued.read_model_bytes > 500 * 20, "{issued:?}");
        let numbers = created_numbers(&receipts).unwrap();
        let steps: Vec<SignedEvent> = (0..20)
            .flat_map(|i| city.lifecycle(i, &numbers[i as usize]))
            .collect();
        // In order per manifest: each load's four steps one after the other.
        for e in steps {
            append(&ledger, vec![e], "lifecycle step").unwrap();
        }
        let all = ledger.commit_times() - before;
        assert_eq!(all.events, 100);
        for part in [all.prepare, all.write, all.durable] {
            assert!(part > Duration::ZERO, "{all:?}");
        }
        assert!(all.prepare + all.write + all.durable <= all.busy, "{all:?}");
        // A step is a batch of its own here: it rewrites at least the manifest's record and
        // the fold's position.
        assert!(
            all.read_model_keys >= issued.read_model_keys + 2 * 80,
            "{all:?}"
        );
        assert!(read_model_written(&all).contains(" keys and "));

        let bare = tempfile::tempdir().unwrap();
        let (plain, keys) = super::super::fresh_log(&bare.path().join("log"), 1).unwrap();
        let events = (0..10)
            .map(|i| super::super::sample_event(i, &keys))
            .collect();
        let t0 = plain.commit_times();
        append(&plain, events, "sample").unwrap();
        let none = plain.commit_times() - t0;
        assert_eq!(
            (none.events, none.read_model_keys, none.read_model_bytes),
            (10, 0, 0)
        );
    }

    /// The bench's fold without signatures runs every entry of the log through the order
    /// checks and the rules: it ends at the audit's size and root.
    #[test]
    fn the_fold_without_signatures_ends_where_the_audit_does() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let (ledger, city) = waste_log(&log);
        let issues: Vec<SignedEvent> = (0..10).map(|i| city.issue(i)).collect();
        let (_, receipts) = append(&ledger, issues, "manifest.issued").unwrap();
        let numbers = created_numbers(&receipts).unwrap();
        let steps = (0..10)
            .flat_map(|i| city.lifecycle(i, &numbers[i as usize]))
            .collect();
        append(&ledger, steps, "lifecycle step").unwrap();
        let size = ledger.size();
        ledger.close().unwrap();

        let audited = store::verify_in_place(&log, &rules() as &dyn Rules, &mut |_, _| {})
            .unwrap()
            .unwrap();
        let (n, _, root) = store::besides_signatures(&log, &rules() as &dyn Rules)
            .unwrap()
            .expect("a small log is folded in memory");
        assert_eq!((n, root), (size, audited.root));
        assert!(size > 50, "{size}");
    }
}
