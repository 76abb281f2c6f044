//! `bench --mirror`: the log mirrored through its tiles over HTTP loopback (every entry
//! audited, every hash tile recomputed, every file fsynced), a resumed mirror's local re-audit,
//! and a restore from the mirror directory; each beside the raw verify rate.

use super::{RawRates, Served};
use crate::ledger::note::NoteVerifier;
use crate::ledger::state::{Fold, OpenRules, Rules};
use crate::mirror::{Mirror, MirrorDir, Options, TileSource};
use crate::store::Ledger;
use anyhow::{bail, Result};
use std::path::Path;
use std::time::Instant;

pub(super) fn run(ledger: &Ledger, dir: &Path, raw: &RawRates) -> Result<()> {
    let served = Served::start(ledger)?;
    let source = TileSource::open(&served.base, None);
    let target = dir.join("mirror");
    let v = ledger.verifier().clone();
    let mut fold = OpenRules.fresh();
    let mut m = open(&target, &source, &v, fold.as_mut())?;
    let step = m.step(&mut |_, _| {})?;
    drop(m);
    if let Err(e) = serving(&served.base, &target) {
        println!("tiles served (server beside nginx): not measured ({e:#})");
    }
    served.stop();
    let n = step.to as f64;
    let secs = step.elapsed.as_secs_f64();
    println!(
        "mirror (tiles over HTTP loopback; every entry audited, hash tiles recomputed, files fsynced): {} entries in {secs:.2}s = {:.0} entries/s ({}); {} files, {} bytes",
        step.to,
        n / secs,
        raw.ratio(n / secs),
        step.fetched.0,
        step.fetched.1
    );
    let t = Instant::now();
    let mut fold = OpenRules.fresh();
    let local = TileSource::Dir(target.clone());
    let m = open(&target, &local, &v, fold.as_mut())?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "mirror resumed (the directory re-audited from its own bundles, no network): {} entries in {secs:.2}s = {:.0} entries/s",
        m.size(),
        n / secs
    );
    drop(m);
    let restored = dir.join("restored");
    let note = local.checkpoint()?;
    let size = step.to;
    let t = Instant::now();
    let r = crate::store::restore(
        &restored,
        &note,
        &OpenRules,
        &mut |at| match local.bundle(at, size) {
            Ok(Ok((first, entries))) => {
                Ok(entries.into_iter().skip((at - first) as usize).collect())
            }
            Ok(Err(f)) => Err(f.to_string()),
            Err(e) => Err(format!("{e:#}")),
        },
        &mut |_, _| {},
    )?;
    let secs = t.elapsed().as_secs_f64();
    if let Err(f) = r {
        bail!("restore failed at {f}");
    }
    println!(
        "restore (from the mirror directory: entries written, derived trees rebuilt by the audit's fold): {size} entries in {secs:.2}s = {:.0} entries/s ({})",
        n / secs,
        raw.ratio(n / secs),
    );
    std::fs::remove_dir_all(&restored)?;
    std::fs::remove_dir_all(&target)?;
    Ok(())
}

/// GET the same full hash tile and entry bundle from the server and from nginx serving the
/// mirror directory, `wrk` with the same threads and connections, one after the other.
fn serving(base: &str, mirror: &Path) -> Result<()> {
    if std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_err()
    {
        bail!("wrk is not installed (apt-get install wrk)");
    }
    let nginx = super::nginx::Nginx::start(mirror)?;
    for (what, path) in [
        ("full hash tile", "/tile/0/000"),
        ("full entry bundle", "/tile/entries/000"),
    ] {
        if !mirror.join(&path[1..]).exists() {
            bail!("the log has no full tile yet (fewer than 256 entries)");
        }
        for (who, url) in [("server", base), ("nginx ", nginx.url.as_str())] {
            let out = std::process::Command::new("wrk")
                .args(["-t", "2", "-c", "64", "-d", "5s", "--latency"])
                .arg(format!("{url}{path}"))
                .output()?;
            let w = super::WrkReport::parse(&String::from_utf8_lossy(&out.stdout))?;
            println!(
                "tiles served, {what} (GET {path}, wrk 2 threads, 64 connections, same machine), {who}: {:.0} requests/s; {} | {}",
                w.rps, w.p50, w.p99
            );
        }
    }
    Ok(())
}

fn open<'a, 'r>(
    target: &Path,
    source: &'a TileSource,
    v: &NoteVerifier,
    fold: &'r mut dyn Fold,
) -> Result<Mirror<'a, 'r>> {
    Mirror::open(
        MirrorDir::open(target)?,
        Options {
            source,
            log_key: Some(v.clone()),
            rules: &OpenRules,
        },
        fold,
        &mut |_, _| {},
    )
}
