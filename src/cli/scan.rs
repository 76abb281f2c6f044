//! `wasteledger scan`: read a photo or PNG of a code, verify its token offline with the log's
//! key, and with a server ask the live status (and record the scan as an inspection); a
//! hand-over code (`handover --qr`) is shown with what was signed and how to countersign it.
//! `wasteledger print`: fetch a manifest's printable page or its container labels.

use crate::client::LogClient;
use crate::keyfile;
use crate::ledger::event::SignedEvent;
use crate::ledger::note::NoteVerifier;
use crate::qr::{self, LineWhat, TokenBody, TokenKind};
use crate::web::quantity;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

thread_local! {
    /// `--json`: the sentences go to standard error, standard output holds only JSON.
    static SENTENCES_TO_STDERR: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A sentence for the person (standard output, or standard error under `--json`).
macro_rules! say {
    ($($t:tt)*) => {
        if SENTENCES_TO_STDERR.with(|c| c.get()) {
            eprintln!($($t)*)
        } else {
            println!($($t)*)
        }
    };
}

#[derive(clap::Args)]
pub struct ScanArgs {
    /// Photos or PNG/JPEG images of codes (each may hold several codes), or with --text the
    /// scanned text itself (a token or a URL ending in one, or a hand-over code WLH1…)
    #[arg(required = true)]
    inputs: Vec<String>,
    /// The inputs are scanned text, not image files
    #[arg(long)]
    text: bool,
    /// The log's verifier key (name+id+key, as GET /v1/log/key serves it), or a file holding
    /// it: the token is verified offline with it. Without it, the key of --server is used.
    #[arg(long, value_name = "KEY|FILE")]
    log_key: Option<String>,
    /// Ask this log for the live status, the holder, and whether the container belongs
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Record the scan on the log as an inspection (needs --server, --key and --inspector)
    #[arg(long, requires_all = ["server", "key", "inspector"])]
    record: bool,
    /// Your key file: the scan is signed with it (a party to the manifest or an inspector is
    /// told the holder and truck), and --record signs the inspection with it
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// The inspector's party (USCC), for --record
    #[arg(long, value_name = "USCC")]
    inspector: Option<String>,
    /// Findings to record with the scan (default: the verdict)
    #[arg(long)]
    findings: Option<String>,
    /// The plate of the truck the load is seen on: compared with the truck of its last
    /// hand-over (another truck is the verdict wrong_vehicle), and recorded with --record
    #[arg(long, value_name = "PLATE")]
    vehicle: Option<String>,
    /// One JSON object per code on standard output (the payload, whether it verified offline
    /// and why not, the log's live answer, the inspection's entry when recorded); the
    /// sentences go to standard error
    #[arg(long)]
    json: bool,
}

pub(super) fn verifier_from(arg: &str) -> Result<NoteVerifier> {
    let text = if Path::new(arg).is_file() {
        std::fs::read_to_string(arg).with_context(|| format!("cannot read {arg}"))?
    } else {
        arg.to_string()
    };
    NoteVerifier::parse(text.trim()).with_context(|| {
        format!("--log-key: expected the log's verifier key (name+id+key) or a file holding it, got {arg:?}")
    })
}

/// The token, shown to a person.
pub fn describe(b: &TokenBody) -> String {
    let mut out = format!(
        "manifest {} (version {}), {} stream, issued {} at log entry {}\n  generator {} → destination {}\n",
        b.number,
        b.version,
        b.stream.as_str(),
        crate::web::cst(b.issued_at()),
        b.issue_index,
        b.generator,
        b.destination
    );
    for (i, l) in b.lines.iter().enumerate() {
        out.push_str(&format!(
            "  line {}: {} {}\n",
            i + 1,
            match &l.what {
                LineWhat::HwCode(c) => c.as_str().to_string(),
                LineWhat::Cw(t) => format!("{} {}", t.zh(), t.en()),
            },
            quantity(&l.quantity)
        ));
    }
    if let TokenKind::Container { line, id } = &b.kind {
        out.push_str(&format!("  container {id} on line {}\n", line + 1));
    }
    out
}

pub fn scan(a: ScanArgs) -> Result<()> {
    SENTENCES_TO_STDERR.with(|c| c.set(a.json));
    let client = a.server.as_deref().map(LogClient::new);
    let mut payloads = Vec::new();
    if a.text {
        payloads.extend(a.inputs.iter().cloned());
    } else {
        for f in &a.inputs {
            let bytes = std::fs::read(f).with_context(|| format!("cannot read image {f}"))?;
            let found = qr::decode_image(&bytes).with_context(|| f.to_string())?;
            payloads.extend(found);
        }
    }
    // A hand-over code carries its signer's key: the log's key is for manifest codes.
    let (handovers, payloads): (Vec<String>, Vec<String>) =
        payloads.into_iter().partition(|p| qr::is_handover_code(p));
    let mut all_ok = true;
    for h in &handovers {
        let ok = show_handover(h, client.as_ref(), &a);
        if a.json {
            let event = qr::decode_handover(h)
                .ok()
                .map(|ev| Value::Object(ev.event().clone()));
            println!(
                "{}",
                json!({"payload": h, "kind": "handover", "ok": ok, "event": event})
            );
        }
        all_ok &= ok;
    }
    if payloads.is_empty() {
        if handovers.is_empty() {
            bail!("no code found in the input");
        }
        if !all_ok {
            bail!("the hand-over code did not check out");
        }
        return Ok(());
    }
    let verifier = match (&a.log_key, &client) {
        (Some(k), _) => verifier_from(k)?,
        (None, Some(c)) => {
            eprintln!("note: no --log-key: verifying with the key the server serves (pin it with --log-key to check offline and independently)");
            c.verifier()
                .context("cannot fetch the log's key from --server")?
        }
        (None, None) => {
            bail!("give --log-key (the log's verifier key, to verify offline) or --server URL")
        }
    };
    let key = a.key.as_deref().map(keyfile::read).transpose()?;
    if let Some(vh) = &a.vehicle {
        crate::domain::codes::Plate::parse(vh.trim())
            .map_err(|e| anyhow::anyhow!("--vehicle: {e}"))?;
    }
    for p in &payloads {
        let mut out = json!({"payload": p});
        let token = match qr::payload_token(p) {
            Ok(t) => t,
            Err(e) => {
                all_ok = false;
                say!("✘ not a wasteledger code ({e}): {p:?}");
                if a.json {
                    out["offline"] = json!({"ok": false, "error": e.to_string()});
                    println!("{out}");
                }
                continue;
            }
        };
        let body = match qr::verify(token, &verifier) {
            Ok(b) => {
                out["offline"] = json!({"ok": true, "manifest": b.number.to_string()});
                say!(
                    "✔ offline: signed by the log {} ({})\n{}",
                    verifier.name,
                    hex::encode(verifier.id()),
                    describe(&b)
                );
                Some(b)
            }
            Err(e) => {
                all_ok = false;
                say!("✘ offline: {e}");
                out["offline"] = json!({"ok": false, "error": e.to_string()});
                None
            }
        };
        let Some(c) = &client else {
            if a.json {
                println!("{out}");
            }
            continue;
        };
        // Signed with --key when given: a party to the manifest or an inspector is told who
        // holds the load and on which truck; an anonymous scan only whether it checks out.
        let mut req = json!({ "payload": p });
        if let Some(vh) = &a.vehicle {
            req["vehicle"] = json!(vh.trim());
        }
        let req = req.to_string();
        let a2 = match &key {
            Some(k) => c.signed("POST", "/v1/scan", req.as_bytes(), k),
            None => c.post("/v1/scan", req.as_bytes()),
        }
        .context("cannot reach --server")?;
        if a2.status != 200 {
            bail!(
                "the server did not check the code: {} {}",
                a2.status,
                a2.body
            );
        }
        let v = a2.json()?;
        out["live"] = v.clone();
        let ok = v["ok"].as_bool() == Some(true);
        all_ok &= ok;
        say!(
            "{} live: {}: {}",
            if ok { "✔" } else { "✘" },
            v["verdict"].as_str().unwrap_or("?"),
            v["detail"].as_str().unwrap_or("")
        );
        print_live(&v["manifest"]);
        if let Some(cn) = v.get("container") {
            say!(
                "  container {} {}",
                cn["id"].as_str().unwrap_or("?"),
                if cn["belongs"] == true {
                    "belongs to this manifest"
                } else {
                    "does NOT belong to this manifest"
                }
            );
            if let Some(h) = cn.get("should_hold") {
                say!("  {}", should_hold(h, &cn["line"]));
            }
        }
        if a.record {
            if let Some(b) = &body {
                let k = key.as_ref().expect("clap requires --key with --record");
                out["recorded_index"] = record(&a, c, k, b, token, &v)?;
            } else {
                say!(
                    "  (not recorded: the code did not verify; photograph it as evidence instead)"
                );
            }
        }
        if a.json {
            println!("{out}");
        }
    }
    if !all_ok {
        bail!("at least one code did not check out");
    }
    Ok(())
}

/// A hand-over code (`handover --qr`): what the party handing over signed, whether its
/// signature holds, and with a server whose key it is; then how to countersign it.
fn show_handover(code: &str, client: Option<&LogClient>, a: &ScanArgs) -> bool {
    let ev = match qr::decode_handover(code) {
        Ok(ev) => ev,
        Err(e) => {
            say!("✘ {e}");
            return false;
        }
    };
    let signer = ev.signatures()[0].key.to_string();
    if let Err(e) = ev.verify_signatures() {
        say!("✘ hand-over code: {e}: it was changed after it was signed; do not countersign it");
        return false;
    }
    say!("✔ hand-over code, signed by key {signer}");
    print!("{}", super::party::describe_handover(ev.event()));
    let side = |k: &str| ev.event().get(k).and_then(Value::as_str).unwrap_or("");
    let (from, to) = (side("from"), side("to"));
    if let Some(c) = client {
        let key_of = |party: &str| -> Option<bool> {
            let ans = c.get(&format!("/v1/parties/{party}")).ok()?;
            let p = ans.json().ok()?;
            Some(
                p["party"]["keys"]
                    .as_array()
                    .is_some_and(|ks| ks.iter().any(|k| k.as_str() == Some(signer.as_str()))),
            )
        };
        match (key_of(from), key_of(to)) {
            (Some(true), _) => {
                say!("  signed by  {from} (giving): waits for {to} (taking) to countersign")
            }
            (_, Some(true)) => {
                say!("  signed by  {to} (taking): waits for {from} (giving) to countersign")
            }
            (Some(false), Some(false)) => {
                say!("✘ the key that signed is not a registered key of {from} or {to}: do not countersign it");
                return false;
            }
            _ => say!("  (the log did not say whose key signed it)"),
        }
    }
    let input = if a.text {
        format!("--code {code}")
    } else {
        format!(
            "--qr {}",
            a.inputs.first().map(String::as_str).unwrap_or("IMAGE")
        )
    };
    say!(
        "  countersign: wasteledger countersign --server {} --key YOUR-KEY.pem {input}",
        a.server.as_deref().unwrap_or("URL")
    );
    true
}

/// The holder and truck the server tells a signed scan (a party to the manifest, an inspector).
fn print_live(m: &Value) {
    if let Some(h) = m["holder"].as_str() {
        match m["holder_name"].as_str().filter(|n| !n.is_empty()) {
            Some(n) => say!("  held by  {h} ({n})"),
            None => say!("  held by  {h}"),
        }
        say!(
            "  truck    {}",
            m["vehicle"]
                .as_str()
                .unwrap_or("none in the log (not on a truck)")
        );
    }
}

/// What a container should hold, from the manifest as it stands.
fn should_hold(h: &Value, line: &Value) -> String {
    let what = match (h["code"].as_str(), h["cw_type"].as_str()) {
        (Some(c), _) => c.to_string(),
        (None, Some(t)) => t.to_string(),
        _ => "?".to_string(),
    };
    let q: Option<crate::domain::codes::Quantity> =
        serde_json::from_value(h["quantity"].clone()).ok();
    let q = q.as_ref().map(quantity).unwrap_or_else(|| "?".into());
    let line = line.as_u64().map(|l| l + 1).unwrap_or_default();
    if h["quantity_of"] == "container" {
        format!(
            "should hold: {what} {} (line {line}), {q} in this container",
            h["name"].as_str().unwrap_or("")
        )
    } else {
        format!(
            "should hold: {what} {} (line {line}), {q} declared for the line's {} container(s)",
            h["name"].as_str().unwrap_or(""),
            h["containers_on_line"]
        )
    }
}

fn record(
    a: &ScanArgs,
    c: &LogClient,
    key: &ed25519_dalek::SigningKey,
    b: &TokenBody,
    token: &str,
    v: &Value,
) -> Result<Value> {
    let inspector = a.inspector.clone().expect("clap requires --inspector");
    let ok = v["ok"].as_bool() == Some(true);
    let findings = a.findings.clone().unwrap_or_else(|| {
        format!(
            "QR scan: {} ({})",
            v["verdict"].as_str().unwrap_or("?"),
            v["detail"].as_str().unwrap_or("")
        )
    });
    let now = crate::ledger::time::Timestamp::from_system_time(std::time::SystemTime::now());
    let mut body = json!({
        "type": "inspection.recorded", "inspector": inspector, "manifest": b.number,
        "at": now, "verdict": if ok { "pass" } else { "violation" },
        "findings": findings, "token": token,
    });
    // The truck the inspector saw, never the one the log last knew of.
    if let Some(vh) = &a.vehicle {
        body["vehicle"] = json!(vh.trim());
    }
    let ev = SignedEvent::sign(body, &[key])?;
    let ans = c.post("/v1/events", &ev.to_bytes())?;
    if ans.status != 201 {
        bail!(
            "the log refused the inspection: {} {}",
            ans.status,
            ans.body
        );
    }
    let index = ans.json()?["index"].clone();
    say!("  recorded as inspection at log entry {index}");
    Ok(index)
}

#[derive(clap::Args)]
pub struct PrintArgs {
    /// The log's address
    #[arg(long, value_name = "URL")]
    server: String,
    /// Your key file (a party to the manifest, or an inspector)
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    #[arg(long, value_name = "NUMBER")]
    manifest: String,
    /// The container labels (one per container, HJ 1276-2022 layout) instead of the manifest page
    #[arg(long)]
    labels: bool,
    /// The manifest's QR code alone, as PNG (or SVG if FILE ends in .svg)
    #[arg(long, conflicts_with = "labels")]
    qr: bool,
    /// Where to write the page (HTML; open it in a browser and print)
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Say what was written as JSON (`{"file", "bytes"}`)
    #[arg(long)]
    json: bool,
}

pub fn print(a: PrintArgs) -> Result<()> {
    let key = keyfile::read(&a.key)?;
    let c = LogClient::new(&a.server);
    let what = if a.labels {
        "labels"
    } else if a.qr {
        if a.out.extension().is_some_and(|e| e == "svg") {
            "qr.svg"
        } else {
            "qr.png"
        }
    } else {
        "print"
    };
    let number = crate::domain::codes::ManifestNumber::parse(&a.manifest)
        .map_err(|e| anyhow::anyhow!("--manifest: {e}"))?;
    let path = format!("/v1/manifests/{number}/{what}");
    let ans = c
        .get_bytes_signed(&path, &key)
        .with_context(|| format!("cannot reach the log at {}", a.server))?;
    if ans.0 != 200 {
        bail!(
            "the log did not give {what} of manifest {number}: {}",
            String::from_utf8_lossy(&ans.1)
        );
    }
    std::fs::write(&a.out, &ans.1).with_context(|| format!("cannot write {}", a.out.display()))?;
    if a.json {
        say!(
            "{}",
            serde_json::json!({"file": a.out.display().to_string(), "bytes": ans.1.len()})
        );
    } else {
        say!("wrote {} ({} bytes)", a.out.display(), ans.1.len());
    }
    Ok(())
}
