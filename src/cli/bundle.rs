//! `wasteledger bundle`: pull a case bundle (the pull is an `evidence.exported` event, signed with
//! the puller's key and logged before the file is handed out). `wasteledger verify-bundle`: check
//! a bundle with the log's verifier key alone (no server, no database), print every check and
//! the summary, and fail naming what does not hold.

use super::scan::verifier_from;
use crate::client::LogClient;
use crate::domain::codes::{ManifestNumber, Uscc};
use crate::investigate::bundle::{self, Bundle, Report};
use crate::keyfile;
use crate::ledger::event::SignedEvent;
use crate::ledger::time::Timestamp;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use std::path::PathBuf;

/// Most manifests one bundle selects (the log refuses more in one `evidence.exported`).
const MAX_SELECTION: usize = crate::domain::fold::MAX_EXPORT_MANIFESTS;

#[derive(clap::Args)]
pub struct BundleArgs {
    /// The log's address, e.g. http://127.0.0.1:8080
    #[arg(long, value_name = "URL")]
    server: String,
    /// Your key file: a key of an enforcement or inspection party, or the authority's
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The case reference (立案号 or your investigation's number)
    #[arg(long, value_name = "ID")]
    case: String,
    /// Why the records are pulled (recorded on the log)
    #[arg(long, value_name = "TEXT")]
    reason: String,
    /// A manifest to include (14 digits); repeat for several. Or select by a search:
    /// --plate, --party, --site or --driver, with --from/--to
    #[arg(long = "manifest", short = 'm', value_name = "NUMBER",
          required_unless_present_any = ["plate", "party", "site", "driver"])]
    manifests: Vec<String>,
    /// Or select every manifest a search finds (your own signed search, as `wasteledger
    /// search` runs it): one of --plate, --party, --site, --driver, with --from/--to. The
    /// search is recorded with the pull.
    #[command(flatten)]
    subject: super::search::Subject,
    /// The search that produced the selection, recorded with the pull as given (with a
    /// search flag, the search itself is recorded)
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["plate", "party", "site", "driver", "driver_name"])]
    query: Option<String>,
    /// The party you pull for (USCC); default: the party your key belongs to (needed with the
    /// authority's key)
    #[arg(long, value_name = "USCC")]
    by: Option<String>,
    /// Where to write the bundle
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The log's verifier key (or a file holding it) to check the bundle with once written;
    /// default: the key the server serves
    #[arg(long, value_name = "KEY|FILE")]
    log_key: Option<String>,
    /// Say what was pulled as JSON (file, case, the pull's entry, checkpoint size, manifests,
    /// whether the bundle verifies) instead of sentences
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct VerifyBundleArgs {
    /// The bundle file
    file: PathBuf,
    /// The log's verifier key (name+id+key, as GET /v1/log/key serves it), or a file holding it
    #[arg(long, value_name = "KEY|FILE")]
    log_key: String,
    /// Print only the failures and the verdict (no passed checks, no summary)
    #[arg(long)]
    quiet: bool,
    /// A witness you trust (its verifier key name+id+base64(0x04 || key), or a file holding
    /// it). Repeatable. The checkpoint must then carry --quorum of their cosignatures.
    #[arg(long = "witness", value_name = "KEY|FILE")]
    witnesses: Vec<String>,
    /// How many of the --witness keys must have cosigned the checkpoint (default: 1 if any
    /// --witness is given)
    #[arg(long, value_name = "K", requires = "witnesses")]
    quorum: Option<usize>,
    /// Print the report as JSON: every check (subject, ok, detail), the verdict, the account
    /// re-derived from the entries and the stored summary
    #[arg(long, conflicts_with = "quiet")]
    json: bool,
}

fn problem(a: &crate::client::Answer) -> String {
    a.problem()
}

pub fn pull(a: BundleArgs) -> Result<()> {
    let key = keyfile::read(&a.key)?;
    let c = LogClient::new(&a.server);
    let unreachable = || {
        format!(
            "cannot reach the log at {} (is the server running, and the URL right?)",
            a.server
        )
    };
    let mut selected = a.manifests.clone();
    let mut query = a.query.clone();
    let x = &a.subject;
    if x.driver_name.is_some() {
        // The search is recorded with the pull, on the log: a name never goes there.
        bail!("--driver-name: a name is never recorded on the log, and the search a bundle selects by is; find the driver's id with `wasteledger search --driver-name NAME` (or `person find`), then bundle with --driver ID");
    }
    if x.given() {
        if [&x.plate, &x.party, &x.site, &x.driver, &x.driver_name]
            .iter()
            .filter(|s| s.is_some())
            .count()
            > 1
        {
            bail!("--plate, --party, --site, --driver: give one subject to search by");
        }
        let q = super::search::subject_query(x)?;
        let searcher = LogClient::new(&a.server).reading_as(key.clone());
        let found = super::search::all_manifests(&searcher, &q).with_context(unreachable)?;
        if found.is_empty() {
            bail!(
                "the search {} found no manifest: nothing to pull",
                x.readable()
            );
        }
        if found.len() > MAX_SELECTION {
            bail!(
                "the search {} found {} manifests; one bundle takes at most {MAX_SELECTION}: narrow the window (--from/--to)",
                x.readable(),
                found.len()
            );
        }
        println!("the search selects {} manifest(s)", found.len());
        for n in found {
            if !selected.contains(&n) {
                selected.push(n);
            }
        }
        // Recorded as a person reads it (the log's search takes it percent-encoded).
        query = Some(x.readable());
    } else if x.from.is_some() || x.to.is_some() {
        bail!("--from/--to: give them with a subject to search by (--plate, --party, --site or --driver)");
    }
    let mut manifests = Vec::new();
    for m in &selected {
        manifests
            .push(ManifestNumber::parse(m.trim()).map_err(|e| anyhow!("--manifest {m:?}: {e}"))?);
    }
    // Who we are, as the log sees our key (and whether it may pull at all).
    let who = c
        .get_signed("/v1/exports", &key)
        .with_context(unreachable)?;
    if who.status != 200 {
        bail!(
            "this key may not pull evidence: {}\n  → evidence is pulled with a key of an enforcement or inspection party, or the authority's",
            problem(&who)
        );
    }
    let reader = who.json()?["reader"].clone();
    let by = match (&a.by, reader["party"].as_str()) {
        (Some(b), _) => Uscc::parse(&b.trim().to_ascii_uppercase())
            .map_err(|e| anyhow!("--by: {e}"))?
            .to_string(),
        (None, Some(p)) => p.to_string(),
        (None, None) => bail!(
            "--by: give the USCC of the agency you pull for (the authority's key belongs to no party)"
        ),
    };
    let mut body = json!({
        "type": "evidence.exported", "by": by, "case": a.case, "reason": a.reason,
        "manifests": manifests,
        "at": Timestamp::from_system_time(std::time::SystemTime::now()).to_string(),
    });
    if let Some(q) = &query {
        body["query"] = json!(q);
    }
    let ev = SignedEvent::sign(body, &[&key]).map_err(|e| anyhow!("cannot sign the event: {e}"))?;
    let answer = c
        .post("/v1/bundles", &ev.to_bytes())
        .with_context(unreachable)?;
    if answer.status != 201 {
        bail!("the log refused the pull: {}", problem(&answer));
    }
    let b: Bundle = serde_json::from_str(&answer.body)
        .with_context(|| "the server's answer is not a bundle".to_string())?;
    std::fs::write(&a.out, answer.body.as_bytes())
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    let log = match &a.log_key {
        Some(k) => verifier_from(k)?,
        None => c.verifier()?,
    };
    let report = bundle::verify(answer.body.as_bytes(), &log);
    let cp = report.checkpoint.as_ref();
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "file": a.out.display().to_string(),
                "bytes": answer.body.len(),
                "case": b.export.case,
                "by": b.export.by,
                "export_index": b.export.index,
                "checkpoint_size": cp.map(|(c, _)| c.size),
                "manifests": b.manifests.iter().map(|m| serde_json::json!({
                    "number": m.number, "entries": m.entries,
                })).collect::<Vec<_>>(),
                "entries": b.entries.len(),
                "verified": report.ok(),
            })
        );
        if report.ok() {
            return Ok(());
        }
        bail!("the bundle written to {} does not verify", a.out.display());
    }
    println!(
        "wrote {} ({} bytes): case {} pulled by {} — the pull is entry {} of the log",
        a.out.display(),
        answer.body.len(),
        b.export.case,
        b.export.by,
        b.export.index
    );
    println!(
        "  checkpoint: {} entries{}",
        cp.map(|(c, _)| c.size.to_string())
            .unwrap_or_else(|| "?".into()),
        cp.map(|(_, n)| format!(", {n} cosignature line(s)"))
            .unwrap_or_default()
    );
    for m in &b.manifests {
        println!(
            "  manifest {}: {} entries (created by entry {})",
            m.number,
            m.entries.len(),
            m.created_by
        );
    }
    let registry = b
        .entries
        .iter()
        .filter(|e| e.why.iter().any(|w| w.starts_with("registry")))
        .count();
    println!(
        "  {} entries in all, each with its tlog-proof; {registry} of them show the signers' keys",
        b.entries.len()
    );
    if report.ok() {
        println!(
            "  checked with {}: {} checks hold (wasteledger verify-bundle {} --log-key KEY)",
            log,
            report.checks.len(),
            a.out.display()
        );
        Ok(())
    } else {
        bail!(
            "the bundle written to {} does not verify:\n  {}",
            a.out.display(),
            report
                .failures()
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join("\n  ")
        )
    }
}

fn print_report(r: &Report, quiet: bool) {
    for c in &r.checks {
        if c.ok && !quiet {
            println!("ok    {c}");
        } else if !c.ok {
            println!("FAIL  {c}");
        }
    }
    if !quiet {
        if let Some(a) = &r.account {
            println!(
                "\n--- what the entries say (re-derived by this verifier from their bytes) ---\n"
            );
            println!("{}", a.trim_end());
            println!("\n--- end ---\n");
        }
        if let Some(s) = &r.summary {
            println!(
                "\n--- summary stored in the bundle (written by the server from the whole log; a reading aid, not checked, not evidence) ---\n"
            );
            println!("{}", s.trim_end());
            println!("\n--- end of summary ---\n");
        }
    }
}

pub fn verify(a: VerifyBundleArgs) -> Result<()> {
    let log = verifier_from(&a.log_key)?;
    let bytes =
        std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let witnesses = super::witness::parse_witness_keys(&a.witnesses)?;
    let r = if witnesses.is_empty() {
        bundle::verify(&bytes, &log)
    } else {
        let k = a.quorum.unwrap_or(1);
        if k == 0 || k > witnesses.len() {
            bail!(
                "--quorum: expected 1 to {} (the number of --witness keys), got {k}",
                witnesses.len()
            );
        }
        bundle::verify_witnessed(&bytes, &log, &witnesses, k)
    };
    let failures = r.failures();
    if a.json {
        let verified = failures.is_empty() && r.ok();
        println!(
            "{}",
            serde_json::json!({
                "verified": verified,
                "checks": r.checks.iter().map(|c| serde_json::json!({
                    "subject": c.subject, "ok": c.ok, "detail": c.detail,
                })).collect::<Vec<_>>(),
                "entries": r.entries,
                "checkpoint_size": r.checkpoint.as_ref().map(|(c, _)| c.size),
                "account": r.account,
                "summary": r.summary,
            })
        );
        if verified {
            return Ok(());
        }
        bail!(
            "{} does not verify: {} of {} checks failed",
            a.file.display(),
            failures.len(),
            r.checks.len()
        );
    }
    print_report(&r, a.quiet);
    if failures.is_empty() && r.ok() {
        println!(
            "verified: {} checks hold; {} entries under the checkpoint of {} signed by {}",
            r.checks.len(),
            r.entries,
            r.checkpoint
                .as_ref()
                .map(|(c, _)| c.size.to_string())
                .unwrap_or_default(),
            log
        );
        return Ok(());
    }
    bail!(
        "{} does not verify: {} of {} checks failed:\n  {}",
        a.file.display(),
        failures.len(),
        r.checks.len(),
        failures
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join("\n  ")
    )
}
