//! `mirror` and `restore`: a verified copy of a log's tiles in a directory, and a log rebuilt
//! from one.

use crate::keyfile;
use crate::mirror::{Mirror, MirrorDir, Options, Refused, TileSource};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub struct MirrorArgs {
    /// The log's base URL (its server, or a static server of another mirror) or a mirror
    /// directory: read through its C2SP tiles only (`/checkpoint`, `/tile/...`).
    #[arg(long)]
    from: String,
    /// The mirror directory (created): `DIR/checkpoint` and `DIR/tile/...`, for any static
    /// server to serve as they are.
    #[arg(long)]
    dir: PathBuf,
    /// Key file of a reader who sees everything: a waste log serves its entry bundles to such
    /// signed readers only (unless it is served with --public-log).
    #[arg(long)]
    key: Option<PathBuf>,
    /// The log's verifier key (name+id+key) or a file holding it. Without it: the key DIR was
    /// first mirrored with, else the one entry 0 names (trusted on first use, and pinned).
    #[arg(long)]
    log_key: Option<String>,
    /// Mirror the current checkpoint and stop (default: follow the log until killed).
    #[arg(long)]
    once: bool,
    /// Time between two looks at the log's checkpoint when following it.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    interval: Duration,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// A mirror directory or a log's base URL (its tiles).
    #[arg(long)]
    from: String,
    /// The new log directory (must not hold a log).
    #[arg(long)]
    data: PathBuf,
    /// Key file of a reader who sees everything (entry bundles of a waste log over HTTP).
    #[arg(long)]
    key: Option<PathBuf>,
    /// The log's verifier key (name+id+key) or a file holding it; default: the mirror
    /// directory's pinned key, else the one entry 0 names.
    #[arg(long)]
    log_key: Option<String>,
    /// The log's signing key: checked against entry 0 and copied to DATA/keys/log.pem, where
    /// `serve --data DATA` finds it. Without it, give `serve --log-key FILE` later.
    #[arg(long)]
    log_key_file: Option<PathBuf>,
}

fn reader(key: &Option<PathBuf>) -> Result<Option<ed25519_dalek::SigningKey>> {
    key.as_deref().map(keyfile::read).transpose()
}

pub fn mirror(a: MirrorArgs) -> Result<()> {
    let source = TileSource::open(&a.from, reader(&a.key)?);
    let log_key = a
        .log_key
        .as_deref()
        .map(super::scan::verifier_from)
        .transpose()?;
    let rules = super::domain_rules(None)?;
    let bar = super::entries_bar();
    loop {
        let dir = MirrorDir::open(&a.dir)?;
        let mut fold = crate::ledger::state::Rules::fresh(&rules);
        let started = std::time::Instant::now();
        let mut m = Mirror::open(
            dir,
            Options {
                source: &source,
                log_key: log_key.clone(),
                rules: &rules,
            },
            fold.as_mut(),
            &mut |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            },
        )?;
        if m.size() > 0 {
            eprintln!(
                "re-audited the {} entries already in {} from its own bundles ({:.1}s, no network)",
                m.size(),
                a.dir.display(),
                started.elapsed().as_secs_f64()
            );
        }
        loop {
            match m.step(&mut |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            }) {
                Ok(s) => {
                    bar.finish_and_clear();
                    let secs = s.elapsed.as_secs_f64();
                    if s.to == s.from {
                        println!("up to date: {} entries; fetched the checkpoint only", s.to);
                    } else {
                        println!(
                            "mirrored {} -> {} entries from {} into {}: {} files fetched ({} bytes), every entry audited ({:.1}s, {:.0} entries/s)",
                            s.from,
                            s.to,
                            source.describe(),
                            a.dir.display(),
                            s.fetched.0,
                            s.fetched.1,
                            secs,
                            (s.to - s.from) as f64 / secs.max(1e-9)
                        );
                    }
                }
                Err(e) if a.once || e.downcast_ref::<Refused>().is_some() => return Err(e),
                Err(e) => {
                    // A network failure part-way: start again from the directory's checkpoint.
                    eprintln!("warning: {e:#}; trying again in {:?}", a.interval);
                    std::thread::sleep(a.interval);
                    break;
                }
            }
            if a.once {
                return Ok(());
            }
            std::thread::sleep(a.interval);
        }
    }
}

pub fn restore(a: RestoreArgs) -> Result<()> {
    let signing = a.log_key_file.as_deref().map(keyfile::read).transpose()?;
    let source = TileSource::open(&a.from, reader(&a.key)?);
    let pinned = match (&a.log_key, &source) {
        (Some(k), _) => Some(super::scan::verifier_from(k)?),
        (None, TileSource::Dir(d)) => std::fs::read_to_string(d.join(".mirror/log-key"))
            .ok()
            .map(|t| crate::ledger::note::NoteVerifier::parse(t.trim()))
            .transpose()
            .context("the mirror's .mirror/log-key")?,
        (None, TileSource::Http(_)) => None,
    };
    let note = source.checkpoint()?;
    if let Some(v) = &pinned {
        crate::ledger::note::Checkpoint::open(&note, v).map_err(|e| {
            anyhow::anyhow!("the checkpoint of {}: {e} (log key {v})", source.describe())
        })?;
    }
    let size = crate::ledger::note::split_note(&note)
        .and_then(|(b, _)| crate::ledger::note::Checkpoint::parse_body(b))?
        .size;
    let started = std::time::Instant::now();
    let bar = super::entries_bar();
    let restored = crate::store::restore(
        &a.data,
        &note,
        &super::domain_rules(None)?,
        &mut |at| match source.bundle(at, size) {
            Ok(Ok((first, entries))) => {
                Ok(entries.into_iter().skip((at - first) as usize).collect())
            }
            Ok(Err(f)) => Err(format!("{}: entry {f}", source.describe())),
            Err(e) => Err(format!("{e:#}")),
        },
        &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    )?;
    bar.finish_and_clear();
    let r = match restored {
        Ok(r) => r,
        Err(f) => bail!(
            "restore failed at {f}; nothing was left in {}",
            a.data.display()
        ),
    };
    if pinned.as_ref().is_some_and(|p| *p != r.verifier) {
        bail!(
            "the log key entry 0 names ({}) is not the pinned one",
            r.verifier
        );
    }
    match signing {
        Some(k) if k.verifying_key() != r.verifier.key => bail!(
            "--log-key-file: not the log's key (entry 0 names {}); the log is restored in {}, its key is not copied",
            r.verifier,
            a.data.display()
        ),
        Some(k) => keyfile::write(&a.data.join("keys/log.pem"), &k)?,
        None => eprintln!(
            "note: no --log-key-file: serve it with `wasteledger serve --data {} --log-key FILE` (the key entry 0 names: {})",
            a.data.display(),
            r.verifier
        ),
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "restored {} entries from {} into {}: checkpoint root {} kept as signed, derived trees rebuilt ({:.1}s, {:.0} entries/s)",
        r.size,
        source.describe(),
        a.data.display(),
        hex::encode(r.root),
        secs,
        r.size as f64 / secs.max(1e-9)
    );
    Ok(())
}
