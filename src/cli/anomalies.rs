//! `wasteledger anomalies`: what the detectors find on a running log, one line per anomaly with
//! its reason and the log entries behind it (`GET /v1/anomalies`, signed with the reader's key).

use crate::client::{encode, LogClient};
use crate::domain::codes::{Plate, Uscc};
use crate::investigate::detectors::AnomalyKind;
use crate::keyfile;
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde_json::Value;
use std::path::PathBuf;

#[derive(Args)]
pub struct AnomaliesArgs {
    /// The log's address, e.g. http://127.0.0.1:8080
    #[arg(long, value_name = "URL")]
    server: String,
    /// Your key file: inspectors, enforcement, auditors and the authority see every anomaly, a
    /// party those of its manifests, vehicles and sites
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Only this kind (overdue, receipt_unconfirmed, quantity_gap, not_licensed,
    /// licence_expired, no_permit, capacity_exceeded, vehicle_two_places, too_fast,
    /// dwell_outside_sites, station_imbalance, site_balance, wrong_vehicle)
    #[arg(long)]
    kind: Option<String>,
    /// Only those concerning this party (USCC)
    #[arg(long)]
    party: Option<String>,
    /// Only those concerning this site (its registered id)
    #[arg(long)]
    site: Option<String>,
    /// Only those concerning this vehicle (plate)
    #[arg(long)]
    vehicle: Option<String>,
    /// Only those at or after this time: a date (00:00 China Standard Time), a CST time
    /// 2026-12-01 08:30, or RFC 3339 with Z or an offset
    #[arg(long)]
    from: Option<String>,
    /// Only those before this time (a date: the end of that day, the day included)
    #[arg(long)]
    to: Option<String>,
    /// Print the server's JSON instead of lines
    #[arg(long)]
    json: bool,
}

/// The query for `GET /v1/anomalies`, each flag checked before anything is sent.
fn query(a: &AnomaliesArgs) -> Result<String> {
    let mut q = Vec::new();
    if let Some(k) = &a.kind {
        AnomalyKind::parse(k)
            .ok_or_else(|| anyhow!("--kind: one of {}; got {k:?}", AnomalyKind::names()))?;
        q.push(format!("kind={k}"));
    }
    if let Some(p) = &a.party {
        let p = Uscc::parse(&p.trim().to_ascii_uppercase()).map_err(|e| anyhow!("--party: {e}"))?;
        q.push(format!("party={p}"));
    }
    if let Some(s) = &a.site {
        q.push(format!("site={}", encode(s)));
    }
    if let Some(v) = &a.vehicle {
        let v = Plate::parse(v.trim()).map_err(|e| anyhow!("--vehicle: {e}"))?;
        q.push(format!("vehicle={}", encode(v.as_str())));
    }
    for (name, t) in [("from", &a.from), ("to", &a.to)] {
        if let Some(t) = t {
            let t = super::time_flag(name, t)?;
            q.push(format!("{name}={}", encode(&t.to_string())));
        }
    }
    Ok(if q.is_empty() {
        "/v1/anomalies".into()
    } else {
        format!("/v1/anomalies?{}", q.join("&"))
    })
}

/// One line: when, kind, reason, entries.
pub fn line(a: &Value) -> String {
    let entries: Vec<String> = a["entries"]
        .as_array()
        .map(|e| e.iter().map(|i| i.to_string()).collect())
        .unwrap_or_default();
    format!(
        "{}  {}  {}  [entries {}]",
        super::cst_json(&a["at"]),
        a["kind"].as_str().unwrap_or("?"),
        a["reason"].as_str().unwrap_or(""),
        entries.join(", ")
    )
}

pub fn run(a: AnomaliesArgs) -> Result<()> {
    let path = query(&a)?;
    let key = keyfile::read(&a.key)?;
    let client = LogClient::new(&a.server);
    // The log answers a page at a time (newest first); follow `next` to the end.
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut list: Vec<Value> = Vec::new();
    let mut as_of = Value::Null;
    let mut cursor: Option<String> = None;
    loop {
        let mut page = format!("{path}{sep}limit=500");
        if let Some(c) = &cursor {
            page.push_str(&format!("&cursor={}", encode(c)));
        }
        let answer = client
            .get_signed(&page, &key)
            .with_context(|| format!("cannot reach the log at {}", a.server))?;
        let body = answer.json()?;
        if answer.status != 200 {
            let field = body["field"]
                .as_str()
                .map(|f| format!(" [field {f}]"))
                .unwrap_or_default();
            bail!(
                "the log did not list anomalies ({}): {}{field}",
                answer.status,
                body["detail"].as_str().unwrap_or(&answer.body)
            );
        }
        if as_of.is_null() {
            as_of = body["as_of"].clone();
        }
        list.extend(body["anomalies"].as_array().cloned().unwrap_or_default());
        match body["next"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    if a.json {
        let body = serde_json::json!({"as_of": as_of, "total": list.len(), "anomalies": list});
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    // Oldest first, so the newest is printed last, next to the prompt.
    for x in list.iter().rev() {
        println!("{}", line(x));
    }
    eprintln!(
        "{} anomal{} as of {}",
        list.len(),
        if list.len() == 1 { "y" } else { "ies" },
        super::cst_json(&as_of)
    );
    Ok(())
}
