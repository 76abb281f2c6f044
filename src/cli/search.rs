//! `wasteledger search` and `wasteledger graph`: linked search and the graph around a load,
//! as a signed reader, printed for people (or as the log's JSON with --json).

use crate::client::{encode, Answer, LogClient};
use crate::domain::codes::{ManifestNumber, Plate, Uscc};
use crate::domain::events::Commitment;
use crate::keyfile;
use anyhow::{anyhow, bail, Result};
use clap::Args;
use serde_json::Value;
use std::path::PathBuf;

/// What a subject search looks for: one plate, party, site or driver, in a window.
#[derive(Args)]
pub struct Subject {
    /// A vehicle's plate
    #[arg(long, value_name = "PLATE")]
    pub plate: Option<String>,
    /// A party's USCC
    #[arg(long, value_name = "USCC")]
    pub party: Option<String>,
    /// A registered site id
    #[arg(long, value_name = "SITE")]
    pub site: Option<String>,
    /// A driver, by their person id (64 hex digits, from `person register`) or an older
    /// log's per-load commitment: every load the person drove
    #[arg(long, value_name = "ID")]
    pub driver: Option<String>,
    /// A driver, by name (the authority, inspectors, enforcement, auditors: any lodged name; a
    /// party: the drivers it registered); erased names are not found
    #[arg(long, value_name = "NAME")]
    pub driver_name: Option<String>,
    /// From this time, inclusive: a date (00:00 China Standard Time), a CST time
    /// 2026-12-01 08:30, or RFC 3339 with Z or an offset
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Until this time, exclusive; a date means the end of that day (the day included)
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
}

impl Subject {
    /// Whether a subject (plate, party, site or driver) is given.
    pub fn given(&self) -> bool {
        [
            &self.plate,
            &self.party,
            &self.site,
            &self.driver,
            &self.driver_name,
        ]
        .iter()
        .any(|s| s.is_some())
    }

    /// The search as a person reads it (`plate=苏E12345&from=…`).
    pub fn readable(&self) -> String {
        [
            ("plate", &self.plate),
            ("party", &self.party),
            ("site", &self.site),
            ("driver", &self.driver),
            ("driver_name", &self.driver_name),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", v.trim())))
        .collect::<Vec<_>>()
        .join("&")
    }
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("subject").required(true).args(["plate", "party", "site", "driver", "driver_name"])))]
pub struct SearchArgs {
    /// The log's address, e.g. http://127.0.0.1:8080
    #[arg(long, value_name = "URL")]
    server: String,
    /// Your key file (an inspector's, enforcement's, an auditor's or the authority's key
    /// searches everything; a party's searches its own manifests)
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    #[command(flatten)]
    subject: Subject,
    /// Manifests per page (1 to 500)
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Oldest first (default: newest first)
    #[arg(long)]
    oldest: bool,
    /// Fetch every page, not only the first
    #[arg(long)]
    all: bool,
    /// Print the log's answer as JSON (one object per page)
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct GraphArgs {
    /// The log's address, e.g. http://127.0.0.1:8080
    #[arg(long, value_name = "URL")]
    server: String,
    /// Your key file
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The load to start from (manifest number)
    #[arg(long, short = 'm', value_name = "NUMBER")]
    manifest: String,
    /// Hops from the load (1 to 4): 1 = what it touched, 2 = also the other loads those touched
    #[arg(long, default_value_t = 2)]
    depth: u32,
    /// From this time, inclusive: a date (00:00 China Standard Time), a CST time
    /// 2026-12-01 08:30, or RFC 3339 with Z or an offset
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// Until this time, exclusive; a date means the end of that day (the day included)
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// At most this many loads per subject (newest first)
    #[arg(long)]
    fan_out: Option<usize>,
    /// Print the log's answer as JSON
    #[arg(long)]
    json: bool,
}

fn client(server: &str, key: &std::path::Path) -> Result<LogClient> {
    Ok(LogClient::new(server).reading_as(keyfile::read(key)?))
}

fn problem(a: &Answer) -> String {
    a.problem()
}

fn window(q: &mut Vec<String>, from: &Option<String>, to: &Option<String>) -> Result<()> {
    for (name, t) in [("from", from), ("to", to)] {
        if let Some(t) = t {
            let t = super::time_flag(name, t)?;
            q.push(format!("{name}={}", encode(&t.to_string())));
        }
    }
    Ok(())
}

/// The query string of a subject search (`plate=…&from=…`), each flag checked and named.
pub(super) fn subject_query(x: &Subject) -> Result<Vec<String>> {
    let mut q = Vec::new();
    if let Some(p) = &x.plate {
        let p = Plate::parse(p).map_err(|e| anyhow!("--plate: {e}"))?;
        q.push(format!("plate={}", encode(p.as_str())));
    }
    if let Some(p) = &x.party {
        let p = Uscc::parse(p).map_err(|e| anyhow!("--party: {e}"))?;
        q.push(format!("party={p}"));
    }
    if let Some(s) = &x.site {
        q.push(format!("site={}", encode(s)));
    }
    if let Some(d) = &x.driver {
        let d = Commitment::try_from(d.clone()).map_err(|e| anyhow!("--driver: {e}"))?;
        q.push(format!("driver={}", d.as_str()));
    }
    if let Some(n) = &x.driver_name {
        if n.trim().is_empty() {
            bail!("--driver-name: empty");
        }
        q.push(format!("driver_name={}", encode(n.trim())));
    }
    window(&mut q, &x.from, &x.to)?;
    Ok(q)
}

/// Every manifest a subject search finds (all pages, oldest first), as the log numbers them.
pub(super) fn all_manifests(c: &LogClient, q: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/search?{}&limit=500&order=oldest", q.join("&"));
        if let Some(cur) = &cursor {
            path.push_str(&format!("&cursor={}", encode(cur)));
        }
        let ans = c.get(&path)?;
        if ans.status != 200 {
            bail!("the log did not search: {}", problem(&ans));
        }
        let page = ans.json()?;
        for m in page["manifests"].as_array().into_iter().flatten() {
            if let Some(n) = m["number"].as_str() {
                out.push(n.to_string());
            }
        }
        cursor = page["next"].as_str().map(str::to_string);
        if cursor.is_none() {
            return Ok(out);
        }
    }
}

pub fn search(a: SearchArgs) -> Result<()> {
    let mut q = subject_query(&a.subject)?;
    if !(1..=500).contains(&a.limit) {
        bail!("--limit: from 1 to 500");
    }
    q.push(format!("limit={}", a.limit));
    if a.oldest {
        q.push("order=oldest".into());
    }
    let c = client(&a.server, &a.key)?;
    let mut cursor: Option<String> = None;
    let mut first = true;
    loop {
        let mut path = format!("/v1/search?{}", q.join("&"));
        if let Some(cur) = &cursor {
            path.push_str(&format!("&cursor={}", encode(cur)));
        }
        let ans = c.get(&path)?;
        if ans.status != 200 {
            bail!("the log did not search: {}", problem(&ans));
        }
        let page = ans.json()?;
        if a.json {
            println!("{page}");
        } else {
            print_page(&page, first);
        }
        first = false;
        cursor = page["next"].as_str().map(str::to_string);
        match (&cursor, a.all) {
            (Some(_), true) => continue,
            (Some(next), false) if !a.json => {
                println!("(more: --all for every page; next page cursor {next})");
                return Ok(());
            }
            _ => return Ok(()),
        }
    }
}

fn print_page(page: &Value, first: bool) {
    if first {
        println!(
            "{} {}{}: {}in the window ({} to {}), {}",
            page["subject"]["kind"].as_str().unwrap_or_default(),
            page["subject"]["id"].as_str().unwrap_or_default(),
            page["driver_name"]
                .as_str()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default(),
            page["postings_in_window"]
                .as_u64()
                .map(|n| format!("{n} entries "))
                .unwrap_or_default(),
            page["from"]
                .as_str()
                .map_or("the start".into(), crate::ledger::time::cst_text),
            page["to"]
                .as_str()
                .map_or("now".into(), crate::ledger::time::cst_text),
            page["scope"].as_str().unwrap_or_default()
        );
    }
    let empty = vec![];
    let ms = page["manifests"].as_array().unwrap_or(&empty);
    if first && ms.is_empty() {
        println!("no manifests");
    }
    for m in ms {
        println!(
            "{}  {:<12} {:<10} issued {}  {} → {}",
            m["number"].as_str().unwrap_or_default(),
            m["status"].as_str().unwrap_or_default(),
            m["stream"].as_str().unwrap_or_default(),
            super::cst_json(&m["issued_at"]),
            m["origin"].as_str().unwrap_or_default(),
            m["destination"].as_str().unwrap_or_default()
        );
        for e in m["entries"].as_array().unwrap_or(&empty) {
            let roles: Vec<&str> = e["roles"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .filter_map(Value::as_str)
                .collect();
            println!(
                "    #{:<9} {}  {:<20} as {}",
                e["index"],
                super::cst_json(&e["time"]),
                e["type"].as_str().unwrap_or_default(),
                roles.join(", ")
            );
        }
    }
}

pub fn graph(a: GraphArgs) -> Result<()> {
    let number = ManifestNumber::parse(&a.manifest).map_err(|e| anyhow!("--manifest: {e}"))?;
    if !(1..=4).contains(&a.depth) {
        bail!("--depth: from 1 to 4");
    }
    let mut q = vec![format!("depth={}", a.depth)];
    window(&mut q, &a.from, &a.to)?;
    if let Some(f) = a.fan_out {
        q.push(format!("fan_out={f}"));
    }
    let ans =
        client(&a.server, &a.key)?.get(&format!("/v1/manifests/{number}/graph?{}", q.join("&")))?;
    if ans.status != 200 {
        bail!("the log did not draw the graph: {}", problem(&ans));
    }
    let g = ans.json()?;
    if a.json {
        println!("{g}");
        return Ok(());
    }
    let empty = vec![];
    let nodes = g["nodes"].as_array().unwrap_or(&empty);
    let edges = g["edges"].as_array().unwrap_or(&empty);
    println!(
        "graph around {} to depth {}: {} nodes, {} edges",
        number,
        g["depth"],
        nodes.len(),
        edges.len()
    );
    for depth in 0..=a.depth {
        let here: Vec<&Value> = nodes.iter().filter(|n| n["depth"] == depth).collect();
        if here.is_empty() {
            continue;
        }
        println!("depth {depth}:");
        for n in here {
            let id = n["id"].as_str().unwrap_or_default();
            let extra = match n["status"].as_str() {
                Some(s) => format!(" ({s}, issued {})", super::cst_json(&n["issued_at"])),
                None => String::new(),
            };
            println!("  {id}{extra}");
            for e in edges.iter().filter(|e| e["from"] == id || e["to"] == id) {
                // Each edge is printed under the node it leads to (the deeper end).
                let other = if e["from"] == id {
                    &e["to"]
                } else {
                    &e["from"]
                };
                let deeper = nodes
                    .iter()
                    .find(|x| x["id"] == *other)
                    .is_some_and(|x| x["depth"].as_u64() < Some(depth as u64));
                if !deeper {
                    continue;
                }
                let roles: Vec<&str> = e["roles"]
                    .as_array()
                    .unwrap_or(&empty)
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                let entries: Vec<String> = e["entries"]
                    .as_array()
                    .unwrap_or(&empty)
                    .iter()
                    .map(|x| format!("#{x}"))
                    .collect();
                println!(
                    "      ← {} {}{} [entries {}]",
                    e["kind"].as_str().unwrap_or_default(),
                    other.as_str().unwrap_or_default(),
                    if roles.is_empty() {
                        String::new()
                    } else {
                        format!(" as {}", roles.join(", "))
                    },
                    entries.join(" ")
                );
            }
        }
    }
    for t in g["truncated"].as_array().unwrap_or(&empty) {
        println!(
            "truncated: {} ({}): {} shown{}",
            t["node"].as_str().unwrap_or_default(),
            t["reason"].as_str().unwrap_or_default(),
            t["shown"],
            t["postings_in_window"]
                .as_u64()
                .map(|p| format!(" of {p} entries in the window"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
