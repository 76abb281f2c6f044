//! Client subcommands: talk to a running log.

use crate::client::{audit_remote, check_cosigned, LogClient};
use crate::keyfile;
use crate::ledger::cosignature::WitnessKey;
use crate::ledger::event::SignedEvent;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub fn audit(
    server: Option<&str>,
    tiles: Option<&str>,
    log_key: Option<&str>,
    key: Option<&Path>,
    witnesses: &[WitnessKey],
    quorum: Option<usize>,
    json: bool,
) -> Result<()> {
    let quorum = quorum.unwrap_or(usize::from(!witnesses.is_empty()));
    if quorum > witnesses.len() {
        bail!(
            "--quorum {quorum}: only {} --witness keys given",
            witnesses.len()
        );
    }
    let reader = key.map(keyfile::read).transpose()?;
    let tile_source = tiles.map(|t| crate::mirror::TileSource::open(t, reader.clone()));
    let mut client = LogClient::new(server.unwrap_or_default());
    if let Some(k) = reader {
        client = client.reading_as(k);
    }
    if tile_source.is_some() && quorum > 0 {
        bail!("--witness and --quorum check the log's cosigned checkpoint: give --server, not --tiles");
    }
    let source: &dyn crate::client::LogSource = match &tile_source {
        Some(t) => t,
        None => &client,
    };
    let server = tile_source
        .as_ref()
        .map_or_else(|| client.base().to_string(), |t| t.describe());
    let verifier = log_key.map(super::scan::verifier_from).transpose()?;
    let pinned = verifier.clone();
    if verifier.is_none() {
        eprintln!(
            "note: no --log-key given: the audit checks the log against the key {}; pin the log's key with --log-key to detect a substituted log",
            if tile_source.is_some() { "entry 0 names" } else { "the server serves" }
        );
    }
    let started = std::time::Instant::now();
    let bar = super::entries_bar();
    let audited = audit_remote(
        source,
        verifier,
        &super::domain_rules(None)?,
        &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    )?;
    bar.finish_and_clear();
    match audited {
        Ok(a) => {
            let mut result = serde_json::json!({
                "ok": true, "size": a.size, "root": hex::encode(a.root),
            });
            if !json {
                println!(
                    "ok: {} entries served by {server} check out; root {} matches the signed checkpoint ({:.1}s)",
                    a.size,
                    hex::encode(a.root),
                    started.elapsed().as_secs_f64()
                );
            }
            if quorum > 0 {
                let log = match pinned {
                    Some(v) => v,
                    None => client.verifier()?,
                };
                let c = check_cosigned(&client, &log, witnesses, quorum, a.size, &a.root)?;
                result["cosigned"] = serde_json::json!({
                    "size": c.checkpoint.size,
                    "witnesses": c.cosigners.iter().map(|(w, _)| w.name.clone()).collect::<Vec<_>>(),
                });
                if !json {
                    println!(
                    "ok: checkpoint of size {} cosigned by {} of the {} witnesses trusted ({} needed): {}; consistent with the audited checkpoint",
                    c.checkpoint.size,
                    c.cosigners.len(),
                    witnesses.len(),
                    quorum,
                    c.cosigners
                        .iter()
                        .map(|(w, _)| w.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                    );
                }
            }
            if json {
                println!("{result}");
            }
            Ok(())
        }
        Err(f) => bail!("audit failed at {f}"),
    }
}

/// Sign a bare event or countersign a signed one, then submit it.
pub fn submit(server: &str, keys: &[PathBuf], file: &Path, json: bool) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", file.display()))?;
    let keys = keys
        .iter()
        .map(|k| keyfile::read(k))
        .collect::<Result<Vec<_>>>()?;
    let mut event = if value.get("signatures").is_some() {
        SignedEvent::parse(&crate::ledger::canonical::to_canonical(&value))?
    } else {
        SignedEvent::sign(value, &[])?
    };
    for k in &keys {
        event.add_signature(k);
    }
    if event.signatures().is_empty() {
        bail!("nothing signs this event: give --key FILE");
    }
    let answer = LogClient::new(server).post("/v1/events", &event.to_bytes())?;
    if answer.status != 201 {
        bail!("the log refused the event: {}", answer.problem());
    }
    if json {
        println!("{}", answer.body);
        return Ok(());
    }
    let receipt = answer.json()?;
    println!(
        "logged at index {}, leaf hash {}; provable under the checkpoint of size {}",
        receipt["index"], receipt["leaf_hash"], receipt["tree_size"]
    );
    Ok(())
}
