//! The parties' client commands: each takes the party's key file and the server's URL, builds
//! the event a step needs from flags (or from a JSON or TOML file), signs it and submits it, and
//! says in words what the log answered: the index, the manifest number, the hand-over waiting
//! for the other party, or the log's problem (its `detail` and the `field` at fault).
//!
//! Two-party hand-overs in the field: the party handing over signs first, either submitting the
//! half (the log keeps it as pending, shown on the manifest), writing it to a file (or standard
//! output) with `handover --out`, or showing it as a hand-over QR code with `handover --qr`, even
//! with no network (`--offline`); the taking party checks what it is shown and completes it with
//! `countersign FILE`, `countersign --qr IMAGE` (or `--code TEXT`) or `countersign --pending HASH`.
//!
//! Line numbers count from 1 wherever a person types or reads one (`--accept 1=335kg`, `show`,
//! `line 1: accepted …`); the signed events keep the 0-based index of the wire format
//! (`{"line": 0}`), and the log's field paths stay JSON paths (`event.lines[0]`).

use super::session::{
    check_body, problem, problem_with_hint, sign, uscc_arg, Conn, MaybeConn, Session, Submitted,
};
use super::templates::parse_qty;
use crate::client::{encode, LogClient};
use crate::domain::codes::{ManifestNumber, Plate, Quantity, RdCode, Unit, Uscc};
use crate::domain::events::{DomainEvent, Handover};
use crate::keyfile;
use crate::ledger::canonical::to_canonical;
use crate::ledger::event::{PublicKey, SignedEvent};
use crate::ledger::time::Timestamp;
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum PartyCommand {
    /// (Authority) Register parties, keys, licences, vehicles, sites from a JSON or TOML file
    ///
    /// Each event (party.registered, key.added, licence.granted, licence.revoked,
    /// vehicle.registered, site.registered, key.revoked) is signed with --key and submitted in
    /// order; one line per event with its log index. Every event is checked before the first is
    /// sent; the command stops at the first the log refuses, and events already in the log are
    /// skipped when it is run again.
    Register {
        #[command(flatten)]
        conn: MaybeConn,
        /// A JSON array (or one object, or {"events": [...]}) of event bodies, each with its
        /// "type"; or TOML with [[events]] tables
        #[arg(required_unless_present = "template")]
        file: Option<PathBuf>,
        /// Print a commented TOML file of registry events to start from, and do nothing else
        #[arg(long, conflicts_with = "file")]
        template: bool,
    },
    /// Issue a manifest from a JSON or TOML file; prints the number the log allocates
    ///
    /// The file is a manifest.issued body ("type" may be left out): reference, stream,
    /// generator, origin, destination, haulers, lines. It is checked field by field before
    /// anything is sent. Quantities may be written as people write them ("340kg", "0.34t",
    /// "200l", or an amount with unit kg, t, l or m3). Start from `issue --template`.
    ///
    /// Example: wasteledger issue --template > m.toml; (edit it); wasteledger issue --server
    /// http://127.0.0.1:8080 --key plant.pem m.toml
    Issue {
        #[command(flatten)]
        conn: MaybeConn,
        /// The manifest: reference, stream, generator, origin, destination, haulers, lines
        #[arg(required_unless_present = "template")]
        file: Option<PathBuf>,
        /// Print a commented TOML manifest to start from, and do nothing else
        #[arg(long, conflicts_with = "file")]
        template: bool,
    },
    /// Hand a load you hold to the next party (they countersign)
    ///
    /// Signed by you as the holder. Submitted, the half waits in the log as pending until the
    /// taking party runs `countersign --pending HASH`; with --out it goes to them as a file (or
    /// on standard output) for `countersign FILE`, with --qr as a QR code for `countersign --qr
    /// IMAGE`; with --offline even without a network.
    Handover(HandoverArgs),
    /// Check and countersign a hand-over the other party signed, then submit it
    ///
    /// What is signed is shown on standard error first; signatures that do not verify, and
    /// keys that are not of the hand-over's other party, are refused before anything is signed.
    Countersign(CountersignArgs),
    /// Record a weighbridge ticket for a load you hold
    Weigh {
        #[command(flatten)]
        conn: Conn,
        /// The manifest number (14 digits, e.g. 20263205000001)
        #[arg(long, short = 'm', value_name = "NUMBER")]
        manifest: String,
        /// The registered site of the weighbridge
        #[arg(long, value_name = "SITE")]
        site: String,
        /// The weighbridge ticket number
        #[arg(long)]
        ticket: String,
        /// Gross weight, e.g. 15.459t, 15459kg (a bare number is grams)
        #[arg(long, value_name = "MASS")]
        gross: String,
        /// Tare (the empty vehicle)
        #[arg(long, value_name = "MASS")]
        tare: String,
        /// Net weight as printed on the ticket (default: gross − tare; checked against them)
        #[arg(long, value_name = "MASS")]
        net: Option<String>,
        /// When it was weighed: 2026-11-23 19:00 (China Standard Time), or RFC 3339 with Z or
        /// an offset; default: now
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
    /// Confirm receipt of a load delivered to you, accepting or rejecting line by line
    ///
    /// By default everything handed over is accepted; reject part or all of a line with
    /// --reject LINE=QTY and say why with --reason. The rejected part goes back under a manifest
    /// of its own (to the issuer, or to --return-to).
    Receive {
        #[command(flatten)]
        conn: Conn,
        /// The manifest number (14 digits, e.g. 20263205000001)
        #[arg(long, short = 'm', value_name = "NUMBER")]
        manifest: String,
        /// Accepted quantity of a line, lines counted from 1 (e.g. 1=335kg); default: what was
        /// handed over less what is rejected
        #[arg(long, value_name = "LINE=QTY")]
        accept: Vec<String>,
        /// Rejected quantity of a line (e.g. 1=20kg, or 1=all)
        #[arg(long, value_name = "LINE=QTY")]
        reject: Vec<String>,
        /// What is wrong with a line: LINE=quantity, LINE=type or LINE=residue
        #[arg(long, value_name = "LINE=KIND")]
        discrepancy: Vec<String>,
        /// Why the rejected part is rejected (needed with --reject)
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// The party the rejected part goes back to (default: the manifest's issuer)
        #[arg(long, value_name = "USCC")]
        return_to: Option<String>,
    },
    /// Record treatment or disposal (R/D code) of waste you accepted
    Treat {
        #[command(flatten)]
        conn: Conn,
        /// The manifest number (14 digits, e.g. 20263205000001)
        #[arg(long, short = 'm', value_name = "NUMBER")]
        manifest: String,
        /// The Basel operation: R1–R13 or D1–D15, e.g. R9
        #[arg(long, value_name = "CODE")]
        code: String,
        /// The line, counted from 1; default: every line with accepted waste not yet treated
        #[arg(long)]
        line: Option<u32>,
        /// How much of the line (default: all of it not yet treated)
        #[arg(long, value_name = "QTY", requires = "line")]
        quantity: Option<String>,
    },
    /// Delegate a device key (a driver's phone) to your party: it signs for the party until
    /// --not-after (default 30 days from now)
    ///
    /// Signed with your party key (one the authority added; a device key delegates nothing).
    /// The device key signs every step your party's keys may sign, until it expires or you
    /// revoke it with `revoke-device`. Check a key with `GET /v1/keys/{key}`.
    Delegate {
        #[command(flatten)]
        conn: Conn,
        /// The device's Ed25519 public key (base64 or base64url of 32 bytes)
        #[arg(long, value_name = "KEY")]
        device: String,
        /// Who carries it, e.g. the driver's staff number (at most 64 bytes)
        #[arg(long, value_name = "TEXT")]
        label: String,
        /// Valid for this many days from now
        #[arg(long, value_name = "N", conflicts_with = "not_after")]
        days: Option<u32>,
        /// Valid until this time (RFC 3339, a date, or China Standard Time)
        #[arg(long, value_name = "TIME")]
        not_after: Option<String>,
        /// The registered person (64-hex id) of your party who carries it
        #[arg(long, value_name = "ID")]
        person: Option<String>,
        /// The party (USCC) the key is for: needed only when --key is the authority's
        #[arg(long, value_name = "USCC")]
        holder: Option<String>,
    },
    /// Revoke a device key your party delegated (a lost or replaced phone)
    RevokeDevice {
        #[command(flatten)]
        conn: Conn,
        /// The device's public key (base64 or base64url)
        #[arg(long, value_name = "KEY")]
        device: String,
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// From when its signatures are refused (default: now)
        #[arg(long, value_name = "TIME")]
        effective: Option<String>,
    },
    /// Void a manifest you issued, before pickup
    Void {
        #[command(flatten)]
        conn: Conn,
        /// The manifest number (14 digits, e.g. 20263205000001)
        #[arg(long, short = 'm', value_name = "NUMBER")]
        manifest: String,
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Correct a manifest you issued, before receipt (a new version)
    ///
    /// The JSON or TOML file gives any of destination, haulers, lines (what it leaves out stays
    /// as it is) and the reason. The version number is the current one + 1.
    Correct {
        #[command(flatten)]
        conn: Conn,
        /// The manifest number (14 digits, e.g. 20263205000001)
        #[arg(long, short = 'm', value_name = "NUMBER")]
        manifest: String,
        file: PathBuf,
        /// Why (instead of "reason" in the file)
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Show a manifest: status, holder, lines, steps, flags, pending hand-overs
    Show {
        /// The log's address, e.g. http://127.0.0.1:8080
        #[arg(long, value_name = "URL")]
        server: String,
        /// Your key file; without it you see only what anyone scanning the QR code sees
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// The manifest number (14 digits, e.g. 20263205000001)
        #[arg(long, short = 'm', value_name = "NUMBER")]
        manifest: String,
        /// Print the log's answer as JSON
        #[arg(long)]
        json: bool,
    },
    /// List the manifests you may see, as a table
    List {
        #[command(flatten)]
        conn: Conn,
        /// issued, in_transit, at_station, delivered, received, rejected, returned, treated,
        /// voided, consolidated, split
        #[arg(long)]
        status: Option<String>,
        /// hazardous or construction
        #[arg(long)]
        stream: Option<String>,
        /// Manifests a party (USCC) is a party to
        #[arg(long, value_name = "USCC")]
        party: Option<String>,
        /// Manifests a vehicle carried
        #[arg(long, value_name = "PLATE")]
        vehicle: Option<String>,
        /// Issued at or after: a date (00:00 China Standard Time), a CST time 2026-12-01 08:30,
        /// or RFC 3339 with Z or an offset
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Issued before: a date means the end of that day (the day included), else as --from
        #[arg(long, value_name = "TIME")]
        to: Option<String>,
        /// At most this many (fetched in pages of up to 1000, following the log's `next`)
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Args)]
pub struct HandoverArgs {
    /// The log's address (not with --offline)
    #[arg(long, value_name = "URL", required_unless_present = "offline")]
    server: Option<String>,
    /// Your key file: a key of the party handing over
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The manifest number (14 digits, e.g. 20263205000001)
    #[arg(long, short = 'm', value_name = "NUMBER")]
    manifest: String,
    /// The party taking the load (USCC)
    #[arg(long, value_name = "USCC")]
    to: String,
    /// The party handing over (default: the manifest's holder, which must be you)
    #[arg(long, value_name = "USCC")]
    from: Option<String>,
    /// The plate of the vehicle taking the load on (when a hauler takes it)
    #[arg(long, value_name = "PLATE")]
    vehicle: Option<String>,
    /// The driver, by the id `person register` printed (the same on every load they drive)
    #[arg(long, value_name = "ID", conflicts_with = "driver_name")]
    driver: Option<String>,
    /// The driver, by name: one of the persons your party registered (looked up on the log;
    /// only the id goes into the event)
    #[arg(long, value_name = "NAME", conflicts_with = "offline")]
    driver_name: Option<String>,
    /// The registered site where it happens
    #[arg(long, value_name = "SITE")]
    site: Option<String>,
    /// Where on the road: LAT,LON in decimal degrees (WGS-84), e.g. 31.385712,120.951234
    #[arg(long, value_name = "LAT,LON", allow_hyphen_values = true)]
    place: Option<String>,
    /// When it happens: 2026-11-23 16:30 (China Standard Time), or RFC 3339 with Z or an
    /// offset; default: now
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Quantity of each line, in line order (e.g. 340kg,120kg; a bare number is in the line's
    /// unit, or grams with --offline); default: the manifest's current counts
    #[arg(long = "quantity", value_name = "QTY", value_delimiter = ',')]
    quantities: Vec<String>,
    /// Do not submit: write the hand-over signed by you to FILE (`-`: standard output, e.g. for
    /// a QR code) for the taking party to countersign
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Do not submit: show the hand-over signed by you as a QR code in the terminal, and write
    /// it to FILE as PNG (SVG if FILE ends in .svg; `-`: the terminal only), for the taking
    /// party to scan and countersign (`countersign --qr IMAGE` or `--code TEXT`)
    #[arg(long, value_name = "FILE")]
    qr: Option<PathBuf>,
    /// Do not contact the log (needs --from, --quantity, and --out or --qr)
    #[arg(long, requires_all = ["from", "quantities"])]
    offline: bool,
    /// Print the log's answer as JSON on standard output (the sentences go to standard error)
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct CountersignArgs {
    /// The log's address (not needed with --out and a FILE)
    #[arg(long, value_name = "URL", required_unless_present = "out")]
    server: Option<String>,
    /// Your key file: a key of the party that has not signed yet
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The hand-over signed by the other party (from `handover --out`, JSON or the code's
    /// text; `-`: standard input)
    #[arg(required_unless_present_any = ["pending", "qr", "code"], conflicts_with_all = ["pending", "qr", "code"])]
    file: Option<PathBuf>,
    /// A photo or PNG of the hand-over's QR code (from `handover --qr`)
    #[arg(long, value_name = "IMAGE", conflicts_with_all = ["pending", "code"])]
    qr: Option<PathBuf>,
    /// The hand-over code's text (WLH1…), as a scanner app shows it
    #[arg(long, value_name = "TEXT", conflicts_with = "pending")]
    code: Option<String>,
    /// The hash of a hand-over waiting in the log (printed by `handover`, listed by `show`)
    #[arg(long, value_name = "HASH", requires = "server")]
    pending: Option<String>,
    /// Do not submit: write the hand-over signed by both to FILE (submit it later with
    /// `wasteledger submit --server URL FILE`)
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print the log's answer as JSON on standard output (the sentences go to standard error)
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: PartyCommand) -> Result<()> {
    match cmd {
        PartyCommand::Register { template: true, .. } => {
            print!("{}", super::templates::REGISTRY);
            Ok(())
        }
        PartyCommand::Register { conn, file, .. } => register(
            &Session::open(&conn.require())?,
            &file.expect("clap requires it"),
        ),
        PartyCommand::Issue { template: true, .. } => {
            print!("{}", super::templates::MANIFEST);
            Ok(())
        }
        PartyCommand::Issue { conn, file, .. } => issue(
            &Session::open(&conn.require())?,
            &file.expect("clap requires it"),
        ),
        PartyCommand::Handover(a) => handover(a),
        PartyCommand::Countersign(a) => countersign(a),
        PartyCommand::Weigh {
            conn,
            manifest,
            site,
            ticket,
            gross,
            tare,
            net,
            at,
        } => {
            let s = Session::open(&conn)?;
            let number = manifest_arg(&manifest)?;
            let mass = |flag: &str, v: &str| -> Result<Quantity> {
                let q = parse_qty(v, Unit::G).map_err(|e| anyhow!("--{flag}: {e}"))?;
                if q.unit != Unit::G {
                    bail!("--{flag}: a weighbridge weighs: give a mass (g, kg or t), not {v:?}");
                }
                Ok(q)
            };
            let (gross, tare) = (mass("gross", &gross)?, mass("tare", &tare)?);
            let diff = gross.checked_sub(tare).ok_or_else(|| {
                anyhow!("--tare {tare} is more than --gross {gross}: check the ticket")
            })?;
            let net = match net {
                Some(n) => {
                    let n = mass("net", &n)?;
                    if n != diff {
                        bail!("--net {n} is not gross − tare ({gross} − {tare} = {diff}): check the ticket");
                    }
                    n
                }
                None => diff,
            };
            let when = time_arg(at.as_deref())?;
            if at.is_none() {
                warn_if_defaulted_far(&s.manifest(&number)?, &when);
            }
            let body = json!({
                "type": "custody.weighed", "manifest": number.as_str(), "site": site,
                "ticket": ticket, "gross": gross, "tare": tare, "net": net, "at": when,
            });
            let a = s.sign_and_submit(body, "the weighbridge ticket")?;
            s.say(format_args!(
                "weighed: manifest {number}, ticket {ticket}, net {net}; logged at index {}",
                a["index"]
            ));
            s.report_flags(&number, &a);
            Ok(())
        }
        PartyCommand::Receive {
            conn,
            manifest,
            accept,
            reject,
            discrepancy,
            reason,
            return_to,
        } => receive(
            &Session::open(&conn)?,
            &manifest,
            &accept,
            &reject,
            &discrepancy,
            reason,
            return_to,
        ),
        PartyCommand::Treat {
            conn,
            manifest,
            code,
            line,
            quantity,
        } => treat(&Session::open(&conn)?, &manifest, &code, line, quantity),
        PartyCommand::Delegate {
            conn,
            device,
            label,
            days,
            not_after,
            person,
            holder,
        } => {
            let s = Session::open(&conn)?;
            let device = device_arg(&device)?;
            if label.trim().is_empty() || label.len() > 64 {
                bail!(
                    "--label: a non-empty text of at most 64 bytes (got {} bytes)",
                    label.len()
                );
            }
            let not_after = match not_after {
                Some(t) => super::time_flag("not-after", &t)?,
                None => {
                    let now = Timestamp::from_system_time(std::time::SystemTime::now());
                    Timestamp::from_unix_millis(
                        now.unix_millis() + u64::from(days.unwrap_or(30)) * 86_400_000,
                    )
                }
            };
            let holder = match holder {
                Some(h) => Uscc::parse(&h)
                    .map_err(|e| anyhow!("--holder: {e}"))?
                    .to_string(),
                None => s.own_holder()?,
            };
            let mut body = json!({
                "type": "key.delegated", "key": device.to_string(), "holder": holder,
                "label": label, "not_after": not_after.to_string(),
            });
            if let Some(p) = person {
                body["person"] = p.into();
            }
            let a = s.sign_and_submit(body, "the delegation")?;
            s.say(format_args!(
                "delegated device key {device} to {} ({label}) until {}; logged at index {}",
                s.named(&holder),
                not_after.cst(),
                a["index"]
            ));
            Ok(())
        }
        PartyCommand::RevokeDevice {
            conn,
            device,
            reason,
            effective,
        } => {
            let s = Session::open(&conn)?;
            let device = device_arg(&device)?;
            if reason.trim().is_empty() {
                bail!("--reason: say why the device key is revoked");
            }
            let effective = match effective {
                Some(t) => super::time_flag("effective", &t)?.to_string(),
                None => time_arg(None)?,
            };
            let body = json!({
                "type": "key.revoked", "key": device.to_string(),
                "effective": effective, "reason": reason,
            });
            let a = s.sign_and_submit(body, "the revocation")?;
            s.say(format_args!(
                "revoked device key {device} effective {}; logged at index {}",
                super::cst_text(&effective),
                a["index"]
            ));
            Ok(())
        }
        PartyCommand::Void {
            conn,
            manifest,
            reason,
        } => {
            let s = Session::open(&conn)?;
            let number = manifest_arg(&manifest)?;
            if reason.trim().is_empty() {
                bail!("--reason: say why the manifest is voided");
            }
            let body =
                json!({"type": "manifest.voided", "manifest": number.as_str(), "reason": reason});
            let a = s.sign_and_submit(body, "the void")?;
            s.say(format_args!(
                "voided manifest {number}; logged at index {}",
                a["index"]
            ));
            Ok(())
        }
        PartyCommand::Correct {
            conn,
            manifest,
            file,
            reason,
        } => correct(&Session::open(&conn)?, &manifest, &file, reason),
        PartyCommand::Show {
            server,
            key,
            manifest,
            json,
        } => show(&server, key.as_deref(), &manifest, json),
        PartyCommand::List {
            conn,
            status,
            stream,
            party,
            vehicle,
            from,
            to,
            limit,
        } => {
            let json = conn.json;
            let s = Session::open(&conn)?;
            let mut q = Vec::new();
            if let Some(st) = status {
                const ALL: [&str; 11] = [
                    "issued",
                    "in_transit",
                    "at_station",
                    "delivered",
                    "received",
                    "rejected",
                    "returned",
                    "treated",
                    "voided",
                    "consolidated",
                    "split",
                ];
                if !ALL.contains(&st.as_str()) {
                    bail!("--status: one of {}; got {st:?}", ALL.join(", "));
                }
                q.push(format!("status={st}"));
            }
            if let Some(st) = stream {
                if st != "hazardous" && st != "construction" {
                    bail!("--stream: hazardous or construction; got {st:?}");
                }
                q.push(format!("stream={st}"));
            }
            if let Some(p) = party {
                q.push(format!("party={}", uscc_arg("party", &p)?));
            }
            if let Some(v) = vehicle {
                q.push(format!("vehicle={}", encode(plate_arg(&v)?.as_str())));
            }
            for (name, t) in [("from", from), ("to", to)] {
                if let Some(t) = t {
                    let t = super::time_flag(name, &t)?;
                    q.push(format!("{name}={}", encode(&t.to_string())));
                }
            }
            if limit == 0 {
                bail!("--limit: at least 1");
            }
            // Page after page (in number order) until `limit` or the end.
            let mut manifests: Vec<Value> = Vec::new();
            let mut cursor: Option<String> = None;
            let next = loop {
                let mut page = q.clone();
                page.push(format!("limit={}", (limit - manifests.len()).min(1000)));
                if let Some(c) = &cursor {
                    page.push(format!("cursor={}", encode(c)));
                }
                let path = format!("/v1/manifests?{}", page.join("&"));
                let a = s.get_signed(&path)?;
                if a.status != 200 {
                    bail!("the log did not list manifests: {}", problem(&a));
                }
                let mut body = a.json()?;
                if let Some(rows) = body["manifests"].as_array_mut() {
                    manifests.append(rows);
                }
                match body["next"].as_str() {
                    Some(n) if manifests.len() < limit => cursor = Some(n.to_string()),
                    n => break n.map(str::to_string),
                }
            };
            let mut body = serde_json::json!({ "manifests": manifests });
            if let Some(n) = next {
                body["next"] = n.into();
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
                return Ok(());
            }
            print_list(&body);
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Arguments and files
// ---------------------------------------------------------------------------------------------

fn manifest_arg(s: &str) -> Result<ManifestNumber> {
    ManifestNumber::parse(s.trim()).map_err(|e| anyhow!("--manifest: {e}"))
}

fn plate_arg(s: &str) -> Result<Plate> {
    Plate::parse(s.trim()).map_err(|e| anyhow!("--vehicle: {e}"))
}

/// A step dated now because `--at` was left out, hours after the load's last step, was most
/// likely done earlier and typed in late, and a wrong time makes a truck look as if it were in
/// two places at once: say so before it is signed.
fn warn_if_defaulted_far(m: &Value, at: &str) {
    let last = m["events"].as_array().and_then(|e| e.last()).and_then(|e| {
        e["event"]["at"]
            .as_str()
            .or(e["time"].as_str())
            .and_then(|t| Timestamp::parse(t).ok())
    });
    let (Some(last), Ok(now)) = (last, Timestamp::parse(at)) else {
        return;
    };
    let hours = now.unix_millis().saturating_sub(last.unix_millis()) / 3_600_000;
    if hours >= DEFAULTED_TIME_WARNING_HOURS {
        eprintln!(
            "warning: no --at given, so this step is dated now ({}), {hours} h after the load's last step ({}). If it happened earlier, give --at: a wrong time can make the truck look as if it were in two places at once.",
            now.cst(),
            last.cst()
        );
    }
}

/// How far after the load's last step a defaulted time is worth a warning.
const DEFAULTED_TIME_WARNING_HOURS: u64 = 6;

/// `--at` as people type it, in the form the log writes (RFC 3339 UTC), or now.
/// A device's public key as `--device` gives it: standard base64 or base64url, padded or not.
fn device_arg(s: &str) -> Result<PublicKey> {
    PublicKey::parse_any_base64("--device", s).map_err(|e| anyhow!("{e}"))
}

fn time_arg(at: Option<&str>) -> Result<String> {
    Ok(match at {
        Some(t) => super::time_flag("at", t)?.to_string(),
        None => Timestamp::from_system_time(std::time::SystemTime::now()).to_string(),
    })
}

/// Decimal degrees to integer micro-degrees, exactly (at most 6 decimals).
fn parse_e6(s: &str, what: &str, limit: i64) -> Result<i32> {
    let t = s.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let bad = || anyhow!("--place: {what} {s:?}: expected decimal degrees like 31.385712");
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 6
        || int.len() > 3
    {
        return Err(bad());
    }
    let v: i64 = int.parse::<i64>().map_err(|_| bad())? * 1_000_000
        + format!("{frac:0<6}").parse::<i64>().map_err(|_| bad())?;
    if v > limit * 1_000_000 {
        return Err(anyhow!("--place: {what} {s:?} is beyond ±{limit}°"));
    }
    Ok(if neg { -v } else { v } as i32)
}

/// Read a JSON or TOML document (TOML by the `.toml` extension, or when it is not JSON).
fn read_doc(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    if !is_toml {
        return serde_json::from_str(&text)
            .map_err(|e| anyhow!("{}: not JSON ({e})", path.display()));
    }
    let v: Value = toml::from_str(&text)
        .map_err(|e| anyhow!("{}: not TOML ({})", path.display(), e.to_string().trim()))?;
    Ok(untoml(v))
}

/// TOML date-times come through serde as a private one-key table: make them strings.
fn untoml(v: Value) -> Value {
    const DATETIME: &str = "$__toml_private_datetime";
    match v {
        Value::Object(m) => {
            if m.len() == 1 {
                if let Some(Value::String(s)) = m.get(DATETIME) {
                    return Value::String(s.clone());
                }
            }
            Value::Object(m.into_iter().map(|(k, v)| (k, untoml(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(untoml).collect()),
        other => other,
    }
}

/// A body with its `type` set (or checked, if the file has one).
fn typed(mut v: Value, event_type: &str, source: &str) -> Result<Value> {
    let Value::Object(m) = &mut v else {
        bail!("{source}: expected a JSON object (one {event_type} body)");
    };
    match m.get("type") {
        None => {
            m.insert("type".into(), json!(event_type));
        }
        Some(t) if t == event_type => {}
        Some(t) => bail!("{source}: \"type\" is {t}, expected {event_type:?}"),
    }
    Ok(v)
}

fn write_out(out: &Path, bytes: &[u8]) -> Result<()> {
    if out == Path::new("-") {
        let mut o = std::io::stdout().lock();
        o.write_all(bytes)?;
        o.write_all(b"\n")?;
        return Ok(());
    }
    let mut b = bytes.to_vec();
    b.push(b'\n');
    std::fs::write(out, b).with_context(|| format!("cannot write {}", out.display()))
}

// ---------------------------------------------------------------------------------------------
// register, issue, correct
// ---------------------------------------------------------------------------------------------

const REGISTRY_TYPES: [&str; 8] = [
    "party.registered",
    "person.registered",
    "key.added",
    "licence.granted",
    "licence.revoked",
    "vehicle.registered",
    "site.registered",
    "key.revoked",
];

fn register(s: &Session, file: &Path) -> Result<()> {
    let src = file.display().to_string();
    let events = match read_doc(file)? {
        Value::Array(a) => a,
        Value::Object(mut m) if !m.contains_key("type") && m.contains_key("events") => {
            match m.remove("events") {
                Some(Value::Array(a)) => a,
                _ => bail!("{src}: \"events\" must be an array of event bodies"),
            }
        }
        v @ Value::Object(_) => vec![v],
        _ => bail!("{src}: expected an array of registry event bodies"),
    };
    if events.is_empty() {
        bail!("{src}: no events in it");
    }
    let mut events = events;
    for (i, ev) in events.iter_mut().enumerate() {
        super::templates::normalize_quantities(ev, &format!("{src}: event {}", i + 1))?;
    }
    // Check every one before the first is sent: a typo halfway does not leave half a register.
    for (i, ev) in events.iter().enumerate() {
        let at = format!("{src}: event {} of {}", i + 1, events.len());
        let t = ev["type"]
            .as_str()
            .ok_or_else(|| anyhow!("{at}: no \"type\" (one of {})", REGISTRY_TYPES.join(", ")))?;
        if !REGISTRY_TYPES.contains(&t) {
            bail!(
                "{at}: {t:?} is not a registry event (one of {}); parties issue and hand over with `wasteledger issue`, `handover`, ...",
                REGISTRY_TYPES.join(", ")
            );
        }
        check_body(t, ev, &at)?;
    }
    let n = events.len();
    for (i, ev) in events.into_iter().enumerate() {
        let t = ev["type"].as_str().unwrap_or_default().to_string();
        let what = describe_registry(&ev);
        let signed = sign(ev, &s.key)?;
        let a =
            s.c.post("/v1/events", &signed.to_bytes())
                .with_context(|| s.unreachable())?;
        match a.status {
            201 | 409
                if s.json
                    && (a.status == 201
                        || a.json().is_ok_and(|p| p["existing_index"].is_u64())) =>
            {
                println!("{}", a.json()?)
            }
            201 => println!("{t:<20} {what:<40} index {}", a.json()?["index"]),
            409 if a.json().is_ok_and(|p| p["existing_index"].is_u64()) => println!(
                "{t:<20} {what:<40} already in the log at index {}",
                a.json()?["existing_index"]
            ),
            _ => {
                let done = match i {
                    0 => "nothing was logged".to_string(),
                    1 => "event 1 is in the log".to_string(),
                    _ => format!("events 1 to {i} are in the log"),
                };
                bail!(
                    "{src}: event {} of {n} ({t} {what}) refused: {}\n  {done}; fix this one and run the command again (events already in the log are skipped)",
                    i + 1,
                    problem_with_hint(&a, &s.pk)
                );
            }
        }
    }
    Ok(())
}

fn describe_registry(ev: &Value) -> String {
    let k = match ev["type"].as_str().unwrap_or_default() {
        "party.registered" => "party",
        "key.added" => "holder",
        "key.revoked" => "key",
        "licence.granted" | "licence.revoked" => "licence",
        "vehicle.registered" => "plate",
        "site.registered" => "site",
        "person.registered" => "person",
        _ => "",
    };
    ev[k].as_str().unwrap_or_default().to_string()
}

fn issue(s: &Session, file: &Path) -> Result<()> {
    let src = file.display().to_string();
    let mut body = typed(read_doc(file)?, "manifest.issued", &src)?;
    super::templates::normalize_quantities(&mut body, &src)?;
    check_body("manifest.issued", &body, &src)?;
    let unlabelled = missing_label_fields(&body);
    let reference = body["reference"].as_str().unwrap_or_default().to_string();
    let a = match s.submit(&sign(body, &s.key)?, "the manifest") {
        Ok(Submitted::Logged(a)) => a,
        Ok(Submitted::Pending(_)) => bail!("the log did not take the manifest into the log"),
        Err(e) if e.to_string().contains("(409): replay") => bail!(
            "{e:#}\n  → a manifest with reference {reference:?} was issued from this very file already; `wasteledger list` shows its number"
        ),
        Err(e) => return Err(e),
    };
    let numbers: Vec<&str> = a["manifests"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    match numbers.as_slice() {
        [n] => s.say(format_args!(
            "manifest {n} issued; logged at index {}",
            a["index"]
        )),
        _ => s.say(format_args!(
            "issued; logged at index {} ({})",
            a["index"], a["manifests"]
        )),
    }
    if !unlabelled.is_empty() {
        eprintln!(
            "note: the container labels will show \"—\" for what the manifest leaves out: {}; \
             `wasteledger correct` adds them",
            unlabelled.join("; ")
        );
    }
    Ok(())
}

/// What the container labels (HJ 1276-2022) print that a hazardous manifest leaves out, per
/// line with containers (lines counted from 1).
fn missing_label_fields(body: &Value) -> Vec<String> {
    if body["stream"] != "hazardous" {
        return Vec::new();
    }
    let Some(lines) = body["lines"].as_array() else {
        return Vec::new();
    };
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l["containers"].as_array().is_some_and(|c| !c.is_empty()))
        .filter_map(|(i, l)| {
            let missing: Vec<&str> = [
                ("components", "主要成分 components"),
                ("hazardous_components", "有害成分 hazardous_components"),
                ("precautions", "注意事项 precautions"),
            ]
            .iter()
            .filter(|(k, _)| l[*k].as_str().is_none_or(|v| v.trim().is_empty()))
            .map(|(_, shown)| *shown)
            .collect();
            (!missing.is_empty()).then(|| format!("line {}: {}", i + 1, missing.join(", ")))
        })
        .collect()
}

fn correct(s: &Session, manifest: &str, file: &Path, reason: Option<String>) -> Result<()> {
    let src = file.display().to_string();
    let number = manifest_arg(manifest)?;
    let Value::Object(mut given) = read_doc(file)? else {
        bail!("{src}: expected an object with destination, haulers, lines and reason");
    };
    given.remove("type");
    if let Some(n) = given.remove("manifest") {
        if n != number.as_str() {
            bail!("{src}: \"manifest\" is {n}, but --manifest is {number}");
        }
    }
    given.remove("version");
    for k in given.keys() {
        if !["destination", "haulers", "lines", "reason"].contains(&k.as_str()) {
            bail!("{src}: unknown field {k:?}; a correction gives destination, haulers, lines and reason");
        }
    }
    let m = s.manifest(&number)?;
    let versions = m["versions"].as_array().map(Vec::len).unwrap_or(0);
    let current = m["versions"]
        .as_array()
        .and_then(|v| v.last())
        .cloned()
        .unwrap_or(Value::Null);
    let reason = match (reason, given.remove("reason")) {
        (Some(r), _) => json!(r),
        (None, Some(r)) => r,
        (None, None) => bail!("say why: --reason TEXT, or \"reason\" in {src}"),
    };
    let mut body = json!({
        "type": "manifest.corrected", "manifest": number.as_str(), "version": versions + 1,
        "reason": reason,
    });
    for k in ["destination", "haulers", "lines"] {
        body[k] = given.remove(k).unwrap_or_else(|| current[k].clone());
    }
    check_body("manifest.corrected", &body, &src)?;
    let a = s.sign_and_submit(body, "the correction")?;
    s.say(format_args!(
        "manifest {number} corrected: version {}; logged at index {}",
        versions + 1,
        a["index"]
    ));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Hand-overs
// ---------------------------------------------------------------------------------------------

fn handover(a: HandoverArgs) -> Result<()> {
    if a.offline && a.out.is_none() && a.qr.is_none() {
        bail!("--offline: give --out FILE or --qr FILE, where the hand-over signed by you goes");
    }
    let key = keyfile::read(&a.key)?;
    let number = manifest_arg(&a.manifest)?;
    let to = uscc_arg("to", &a.to)?;
    let vehicle = a.vehicle.as_deref().map(plate_arg).transpose()?;
    let at = time_arg(a.at.as_deref())?;
    let place = a
        .place
        .as_deref()
        .map(|p| -> Result<Value> {
            let (lat, lon) = p
                .split_once(',')
                .ok_or_else(|| anyhow!("--place: expected LAT,LON, e.g. 31.385712,120.951234"))?;
            Ok(json!({"lat_e6": parse_e6(lat, "latitude", 90)?, "lon_e6": parse_e6(lon, "longitude", 180)?}))
        })
        .transpose()?;
    let session = match (&a.server, a.offline) {
        (Some(url), false) => Some(Session::new(url, &a.key)?.json(a.json)),
        _ => None,
    };
    let (from, lines) = match &session {
        None => {
            let from = uscc_arg("from", a.from.as_deref().unwrap_or_default())?;
            let lines = a
                .quantities
                .iter()
                .enumerate()
                .map(|(i, q)| {
                    parse_qty(q, Unit::G)
                        .map(|q| json!({"line": i, "quantity": q}))
                        .map_err(|e| anyhow!("--quantity (line {}): {e}", i + 1))
                })
                .collect::<Result<Vec<_>>>()?;
            (from, lines)
        }
        Some(s) => {
            let m = s.manifest(&number)?;
            if a.at.is_none() {
                warn_if_defaulted_far(&m, &at);
            }
            let holder = m["holder"].as_str().unwrap_or_default().to_string();
            let from = match a.from.as_deref() {
                Some(f) => {
                    let f = uscc_arg("from", f)?;
                    if f.as_str() != holder {
                        bail!(
                            "manifest {number} is held by {}, not by {f} (--from): only the holder hands over",
                            s.named(&holder)
                        );
                    }
                    f
                }
                None => {
                    if !s.party_has_key(&holder, &s.pk)? {
                        let parties: Vec<&str> = m["parties"]
                            .as_array()
                            .map(|p| p.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        let you = match s.which_is_me(parties)? {
                            Some(me) => format!("you ({me})"),
                            None => format!("you (key {})", s.pk),
                        };
                        bail!(
                            "manifest {number} is held by {}, not by {you}: only the holder hands over (status {})",
                            s.named(&holder),
                            m["status"].as_str().unwrap_or("?")
                        );
                    }
                    Uscc::parse(&holder).map_err(|e| anyhow!("the log's holder: {e}"))?
                }
            };
            let current: Vec<Quantity> = serde_json::from_value(m["quantities"].clone())
                .context("the manifest's quantities")?;
            let lines: Vec<Value> = if a.quantities.is_empty() {
                current
                    .iter()
                    .enumerate()
                    .map(|(i, q)| json!({"line": i, "quantity": q}))
                    .collect()
            } else {
                if a.quantities.len() != current.len() {
                    bail!(
                        "manifest {number} has {} line(s); give a --quantity for each, in order (got {})",
                        current.len(),
                        a.quantities.len()
                    );
                }
                a.quantities
                    .iter()
                    .zip(&current)
                    .enumerate()
                    .map(|(i, (q, c))| {
                        parse_qty(q, c.unit)
                            .map(|q| json!({"line": i, "quantity": q}))
                            .map_err(|e| anyhow!("--quantity (line {}): {e}", i + 1))
                    })
                    .collect::<Result<_>>()?
            };
            (from, lines)
        }
    };
    let mut body = json!({
        "type": "custody.handover", "manifest": number.as_str(), "from": from.as_str(),
        "to": to.as_str(), "at": at, "lines": lines,
    });
    if let Some(v) = &vehicle {
        body["vehicle"] = json!(v.as_str());
    }
    if let Some(site) = &a.site {
        body["site"] = json!(site);
    }
    if let Some(p) = place {
        body["place"] = p;
    }
    if let Some(id) = a.driver.as_deref() {
        body["driver_id"] = json!(id.trim());
    }
    if let (Some(name), Some(s)) = (a.driver_name.as_deref(), &session) {
        body["driver_id"] = json!(super::person::resolve(s, name)?);
    }
    check_body("custody.handover", &body, "the hand-over")?;
    let ev = sign(body, &key)?;
    eprint!("{}", describe_handover(ev.event()));
    let hash = hex::encode(ev.event_hash());
    if let Some(qr) = &a.qr {
        show_code(&ev, qr)?;
        eprintln!(
            "signed by you ({from}), hash {hash}; the taking party ({to}) scans the code and countersigns: wasteledger countersign --server {} --key THEIR-KEY.pem --qr IMAGE (or --code TEXT)",
            a.server.as_deref().unwrap_or("URL")
        );
        if a.out.is_none() {
            return Ok(());
        }
    }
    if let Some(out) = &a.out {
        write_out(out, &ev.to_bytes())?;
        let server = a.server.as_deref().unwrap_or("URL");
        eprintln!(
            "signed by you ({from}); {} {hash}",
            if out == Path::new("-") {
                "written to standard output, hash".to_string()
            } else {
                format!("written to {}, hash", out.display())
            }
        );
        eprintln!(
            "the taking party ({to}) countersigns it: wasteledger countersign --server {server} --key THEIR-KEY.pem {}",
            if out == Path::new("-") { "-".to_string() } else { out.display().to_string() }
        );
        return Ok(());
    }
    let s = session.expect("online without --out");
    match s.submit(&ev, "the hand-over")? {
        Submitted::Pending(p) => {
            let hash = p["pending"].as_str().unwrap_or(&hash).to_string();
            let waiting = p["waiting_for"].as_str().unwrap_or(to.as_str()).to_string();
            s.say(format_args!("pending {hash} waiting for {waiting}"));
            eprintln!(
                "signed by you; the log keeps the hand-over of manifest {number} as pending until {} countersigns:",
                s.named(&waiting)
            );
            eprintln!(
                "  wasteledger countersign --server {} --key THEIR-KEY.pem --pending {hash}",
                s.server
            );
        }
        Submitted::Logged(l) => {
            s.say(format_args!(
                "manifest {number} handed over from {from} to {to}; logged at index {}",
                l["index"]
            ));
            s.report_flags(&number, &l);
        }
    }
    Ok(())
}

/// The half as a hand-over code: drawn in the terminal with its text (standard output), and
/// written as PNG or SVG unless `file` is `-`.
fn show_code(ev: &SignedEvent, file: &Path) -> Result<()> {
    let code = crate::qr::encode_handover(ev).map_err(|e| anyhow!("--qr: {e}"))?;
    let version = crate::qr::qr_version(&code)?;
    println!("{}", crate::qr::terminal(&code)?);
    println!("{code}");
    if file != Path::new("-") {
        let bytes = if file.extension().is_some_and(|e| e == "svg") {
            crate::qr::svg(&code)?.into_bytes()
        } else {
            crate::qr::png(&code, 8)?
        };
        std::fs::write(file, bytes).with_context(|| format!("cannot write {}", file.display()))?;
        eprintln!(
            "hand-over code ({} characters, QR version {version}) written to {}",
            code.len(),
            file.display()
        );
    }
    Ok(())
}

/// What a hand-over says, for the person about to sign it.
pub(crate) fn describe_handover(ev: &Map<String, Value>) -> String {
    let s = |k: &str| ev.get(k).and_then(Value::as_str).unwrap_or("-");
    let mut out = String::from("hand-over:\n");
    out += &format!("  manifest   {}\n", s("manifest"));
    out += &format!("  from       {}\n", s("from"));
    out += &format!("  to         {}\n", s("to"));
    if ev.contains_key("vehicle") {
        out += &format!("  vehicle    {}\n", s("vehicle"));
    }
    if ev.contains_key("driver") {
        out += &format!("  driver     {} (commitment to the name)\n", s("driver"));
    }
    if ev.contains_key("driver_id") {
        out += &format!("  driver     {} (registered person)\n", s("driver_id"));
    }
    if ev.contains_key("site") {
        out += &format!("  site       {}\n", s("site"));
    }
    if let Some(p) = ev.get("place") {
        out += &format!(
            "  place      {}, {}\n",
            deg(&p["lat_e6"]),
            deg(&p["lon_e6"])
        );
    }
    out += &format!("  at         {}\n", crate::ledger::time::cst_text(s("at")));
    for l in ev
        .get("lines")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out += &format!(
            "  line {:<6} {}\n",
            l["line"]
                .as_u64()
                .map_or("?".into(), |i| (i + 1).to_string()),
            qty(&l["quantity"])
        );
    }
    out
}

fn deg(v: &Value) -> String {
    match v.as_i64() {
        Some(e6) => format!(
            "{}{}.{:06}",
            if e6 < 0 { "-" } else { "" },
            e6.abs() / 1_000_000,
            e6.abs() % 1_000_000
        ),
        None => "?".into(),
    }
}

fn qty(v: &Value) -> String {
    match (v["amount"].as_u64(), v["unit"].as_str()) {
        (Some(a), Some(u)) => format!("{a} {u}"),
        _ => "-".into(),
    }
}

fn read_input(file: &Path) -> Result<String> {
    if file == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading standard input")?;
        return Ok(s);
    }
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

fn countersign(a: CountersignArgs) -> Result<()> {
    let key = keyfile::read(&a.key)?;
    let pk = PublicKey(key.verifying_key()).to_string();
    let session = a
        .server
        .as_deref()
        .map(|url| Session::new(url, &a.key).map(|s| s.json(a.json)))
        .transpose()?;
    let (text, src) = match (&a.file, &a.pending) {
        (_, Some(hash)) => {
            let s = session.as_ref().expect("--pending requires --server");
            let h = hash.trim().to_ascii_lowercase();
            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!("--pending: expected the 64 hex digits of a pending hand-over's hash, got {hash:?}");
            }
            // The taker signs: a pending half is served to the parties to it only.
            let ans = s.get_signed(&format!("/v1/pending/{h}"))?;
            match ans.status {
                200 => (ans.body, format!("pending hand-over {h}")),
                404 => bail!("no hand-over waits in the log under {h}: check the hash (`wasteledger show --manifest N` lists pending hand-overs)"),
                _ => bail!("the log did not give the pending hand-over: {}", problem(&ans)),
            }
        }
        (Some(file), None) => (read_input(file)?, file.display().to_string()),
        (None, None) => match (&a.qr, &a.code) {
            (Some(image), _) => {
                let bytes = std::fs::read(image)
                    .with_context(|| format!("cannot read image {}", image.display()))?;
                let found =
                    crate::qr::decode_image(&bytes).with_context(|| image.display().to_string())?;
                let code = found.into_iter().find(|p| crate::qr::is_handover_code(p)).ok_or_else(|| {
                    anyhow!("{}: no hand-over code in it (a code from `wasteledger handover --qr` starts with {})", image.display(), crate::qr::HANDOVER_PREFIX)
                })?;
                (code, image.display().to_string())
            }
            (None, Some(code)) => (code.clone(), "--code".to_string()),
            (None, None) => {
                bail!("give the hand-over FILE, --qr IMAGE, --code TEXT or --pending HASH")
            }
        },
    };
    let mut ev = if crate::qr::is_handover_code(&text) {
        crate::qr::decode_handover(&text).map_err(|e| anyhow!("{src}: {e}"))?
    } else {
        let value: Value = serde_json::from_str(text.trim()).map_err(|e| {
            anyhow!("{src}: not JSON ({e}); expected a hand-over from `wasteledger handover --out` (or the code of `handover --qr`)")
        })?;
        if value.get("event").is_none() || value.get("signatures").is_none() {
            bail!("{src}: not a signed hand-over (expected {{\"event\", \"signatures\"}}, as `wasteledger handover --out` writes)");
        }
        SignedEvent::parse(&to_canonical(&value)).map_err(|e| anyhow!("{src}: {e}"))?
    };
    if ev.event_type() != "custody.handover" {
        bail!(
            "{src}: this is a {} event, not a hand-over: only hand-overs are countersigned",
            ev.event_type()
        );
    }
    ev.verify_signatures().map_err(|e| {
        anyhow!("{src}: {e}. It was changed after it was signed: do not countersign it; ask the other party to sign it again")
    })?;
    let h: Handover = match DomainEvent::parse(ev.event_type(), ev.event_bytes()) {
        Ok(DomainEvent::Handover(h)) => h,
        Ok(_) => unreachable!("parsed by its type"),
        Err(e) => bail!("{src}: {e}"),
    };
    if ev.signers().any(|k| k.to_string() == pk) {
        bail!("{src}: you signed this hand-over already; it waits for the other party");
    }
    eprint!("{}", describe_handover(ev.event()));
    if let Some(s) = &session {
        let (from, to) = (h.from.as_str(), h.to.as_str());
        let signed_by = |p: &str| -> Result<bool> {
            for k in ev.signers() {
                if s.party_has_key(p, &k.to_string())? {
                    return Ok(true);
                }
            }
            Ok(false)
        };
        let (from_signed, to_signed) = (signed_by(from)?, signed_by(to)?);
        let me = s.which_is_me([from, to])?;
        eprintln!(
            "  signed by  {}",
            match (from_signed, to_signed) {
                (true, true) => "both parties".to_string(),
                (true, false) => s.named(from),
                (false, true) => s.named(to),
                (false, false) => format!("{} key(s) of neither party", ev.signatures().len()),
            }
        );
        // The party the hand-over waits for: the one whose key has not signed.
        let expected = match (from_signed, to_signed) {
            (true, false) => Some(to),
            (false, true) => Some(from),
            _ => None,
        };
        match me.as_deref() {
            None => bail!(
                "your key ({pk}) is not a registered key of {}, the party this hand-over waits for ({} hands over to {}): nothing was signed or submitted; countersign with that party's key",
                s.named(expected.unwrap_or(to)),
                s.named(from),
                s.named(to)
            ),
            _ if expected.is_none() && !from_signed => bail!(
                "{src}: signed by a key of neither {} nor {}: do not countersign it; ask the party handing over to sign it with its registered key",
                s.named(from),
                s.named(to)
            ),
            Some(p) if (p == from && from_signed) || (p == to && to_signed) => bail!(
                "your party ({p}) signed this hand-over already; it waits for the other party"
            ),
            Some(p) => eprintln!("countersigning as {}", s.named(p)),
        }
    }
    ev.add_signature(&key);
    if let Some(out) = &a.out {
        write_out(out, &ev.to_bytes())?;
        eprintln!(
            "signed by both parties; submit it when the log is in reach: wasteledger submit --server {} {}",
            a.server.as_deref().unwrap_or("URL"),
            out.display()
        );
        return Ok(());
    }
    let s = session.expect("--server is required without --out");
    match s.submit(&ev, "the hand-over")? {
        Submitted::Logged(l) => {
            s.say(format_args!(
                "manifest {} handed over from {} to {}; logged at index {}",
                h.manifest, h.from, h.to, l["index"]
            ));
            s.report_flags(&h.manifest, &l);
        }
        Submitted::Pending(p) => s.say(format_args!(
            "pending {} waiting for {}",
            p["pending"].as_str().unwrap_or_default(),
            p["waiting_for"].as_str().unwrap_or_default()
        )),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// receive, treat
// ---------------------------------------------------------------------------------------------

/// `LINE=VALUE`, lines counted from 1 → (the line's 0-based index in the event, value).
fn line_spec<'a>(flag: &str, spec: &'a str, lines: usize) -> Result<(usize, &'a str)> {
    let (l, v) = spec
        .split_once('=')
        .ok_or_else(|| anyhow!("--{flag} {spec:?}: expected LINE=VALUE, e.g. 1=20kg"))?;
    let n: usize = l
        .trim()
        .parse()
        .map_err(|_| anyhow!("--{flag} {spec:?}: the line is a number; lines count from 1"))?;
    Ok((
        line_index(&format!("--{flag} {spec:?}"), n, lines)?,
        v.trim(),
    ))
}

/// A line number as people count (from 1) → its index in the events (from 0).
fn line_index(what: &str, n: usize, lines: usize) -> Result<usize> {
    match n {
        0 => bail!("{what}: lines count from 1 (line 1 is the manifest's first line)"),
        n if n > lines => bail!("{what}: the manifest has lines 1 to {lines}"),
        n => Ok(n - 1),
    }
}

fn receive(
    s: &Session,
    manifest: &str,
    accept: &[String],
    reject: &[String],
    discrepancy: &[String],
    reason: Option<String>,
    return_to: Option<String>,
) -> Result<()> {
    let number = manifest_arg(manifest)?;
    let return_to = return_to.map(|r| uscc_arg("return-to", &r)).transpose()?;
    let m = s.manifest(&number)?;
    let counted: Vec<Quantity> =
        serde_json::from_value(m["quantities"].clone()).context("the manifest's quantities")?;
    let n = counted.len();
    let mut accepted: Vec<Option<Quantity>> = vec![None; n];
    let mut rejected: Vec<Quantity> = counted.iter().map(|q| Quantity::new(0, q.unit)).collect();
    let mut kinds: Vec<Option<String>> = vec![None; n];
    for spec in reject {
        let (i, v) = line_spec("reject", spec, n)?;
        rejected[i] = if v.eq_ignore_ascii_case("all") {
            counted[i]
        } else {
            parse_qty(v, counted[i].unit).map_err(|e| anyhow!("--reject {spec:?}: {e}"))?
        };
    }
    for spec in accept {
        let (i, v) = line_spec("accept", spec, n)?;
        accepted[i] =
            Some(parse_qty(v, counted[i].unit).map_err(|e| anyhow!("--accept {spec:?}: {e}"))?);
    }
    for spec in discrepancy {
        let (i, v) = line_spec("discrepancy", spec, n)?;
        if !["quantity", "type", "residue"].contains(&v) {
            bail!("--discrepancy {spec:?}: the kind is quantity, type or residue");
        }
        kinds[i] = Some(v.to_string());
    }
    let mut lines = Vec::new();
    for i in 0..n {
        let acc = match accepted[i] {
            Some(q) => q,
            None => counted[i].checked_sub(rejected[i]).ok_or_else(|| {
                anyhow!(
                    "line {}: rejecting {} of the {} handed over; if your count differs, give --accept {}=QTY too",
                    i + 1,
                    rejected[i],
                    counted[i],
                    i + 1
                )
            })?,
        };
        let mut l = json!({"line": i, "accepted": acc, "rejected": rejected[i]});
        if let Some(k) = &kinds[i] {
            l["discrepancy"] = json!(k);
        }
        lines.push(l);
    }
    let mut body = json!({"type": "custody.received", "manifest": number.as_str(), "lines": lines});
    let any_rejected = rejected.iter().any(|q| q.amount > 0);
    if any_rejected {
        let reason = reason
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| anyhow!("--reason: say why part of the load is rejected"))?;
        let to = match return_to {
            Some(t) => t.to_string(),
            None => m["issuer"].as_str().unwrap_or_default().to_string(),
        };
        body["rejection"] = json!({"reason": reason, "to": to});
    } else if reason.is_some() || return_to.is_some() {
        bail!("--reason and --return-to go with --reject: nothing is rejected");
    }
    let a = s.sign_and_submit(body, "the receipt")?;
    s.say(format_args!(
        "manifest {number} received; logged at index {}",
        a["index"]
    ));
    for l in &lines_summary(&counted, &accepted, &rejected) {
        s.say(format_args!("  {l}"));
    }
    s.report_flags(&number, &a);
    if any_rejected {
        let back = s.manifest(&number).ok().and_then(|v| {
            v["onward"]
                .as_array()
                .and_then(|o| o.last())
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        if let Some(b) = back {
            s.say(format_args!(
                "  the rejected part goes back under manifest {b}"
            ));
        }
    }
    Ok(())
}

fn lines_summary(
    counted: &[Quantity],
    accepted: &[Option<Quantity>],
    rejected: &[Quantity],
) -> Vec<String> {
    (0..counted.len())
        .map(|i| {
            let acc = accepted[i].unwrap_or_else(|| {
                counted[i]
                    .checked_sub(rejected[i])
                    .unwrap_or(Quantity::new(0, counted[i].unit))
            });
            format!("line {}: accepted {acc}, rejected {}", i + 1, rejected[i])
        })
        .collect()
}

fn treat(
    s: &Session,
    manifest: &str,
    code: &str,
    line: Option<u32>,
    quantity: Option<String>,
) -> Result<()> {
    let number = manifest_arg(manifest)?;
    let code =
        RdCode::parse(&code.trim().to_ascii_uppercase()).map_err(|e| anyhow!("--code: {e}"))?;
    let m = s.manifest(&number)?;
    let accepted: Vec<Quantity> =
        serde_json::from_value(m.get("accepted").cloned().unwrap_or(json!([])))?;
    let treated: Vec<Quantity> =
        serde_json::from_value(m.get("treated").cloned().unwrap_or(json!([])))?;
    if accepted.is_empty() {
        bail!(
            "manifest {number} is {}: treatment follows receipt (`wasteledger receive`)",
            m["status"].as_str().unwrap_or("?")
        );
    }
    let left = |i: usize| {
        accepted[i]
            .checked_sub(
                treated
                    .get(i)
                    .copied()
                    .unwrap_or(Quantity::new(0, accepted[i].unit)),
            )
            .unwrap_or(Quantity::new(0, accepted[i].unit))
    };
    let todo: Vec<(usize, Quantity)> = match line {
        Some(l) => {
            let i = line_index(&format!("--line {l}"), l as usize, accepted.len())?;
            let q = match &quantity {
                Some(q) => {
                    parse_qty(q, accepted[i].unit).map_err(|e| anyhow!("--quantity: {e}"))?
                }
                None => left(i),
            };
            vec![(i, q)]
        }
        None => (0..accepted.len())
            .map(|i| (i, left(i)))
            .filter(|(_, q)| q.amount > 0)
            .collect(),
    };
    if todo.is_empty() {
        bail!("manifest {number}: every accepted quantity is treated already");
    }
    for (i, q) in todo {
        let body = json!({"type": "custody.treated", "manifest": number.as_str(), "line": i,
                          "code": code.to_string(), "quantity": q});
        let a = s.sign_and_submit(body, &format!("the treatment of line {}", i + 1))?;
        s.say(format_args!(
            "manifest {number} line {}: {q} treated ({code}); logged at index {}",
            i + 1,
            a["index"]
        ));
        s.report_flags(&number, &a);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// show, list
// ---------------------------------------------------------------------------------------------

fn show(server: &str, key: Option<&Path>, manifest: &str, as_json: bool) -> Result<()> {
    let number = manifest_arg(manifest)?;
    let path = format!("/v1/manifests/{number}");
    let c = LogClient::new(server);
    let unreachable =
        || format!("cannot reach the log at {server} (is the server running, and the URL right?)");
    let a = match key {
        Some(k) => c.get_signed(&path, &keyfile::read(k)?),
        None => c.get(&path),
    }
    .with_context(unreachable)?;
    match a.status {
        200 => {}
        404 => bail!("manifest {number} does not exist on this log: check the number"),
        _ => bail!("the log did not show manifest {number}: {}", problem(&a)),
    }
    let m = a.json()?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&m)?);
        return Ok(());
    }
    print!("{}", render_manifest(&m, server));
    Ok(())
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

fn qtys(v: &Value) -> String {
    v.as_array()
        .map(|a| a.iter().map(qty).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// A manifest as a person reads it.
fn render_manifest(m: &Value, server: &str) -> String {
    let mut o = String::new();
    if m["view"] != "full" {
        o += &format!("manifest {} ({})\n", s(&m["number"]), s(&m["stream"]));
        o += &format!("  status       {}\n", s(&m["status"]));
        if let Some(c) = m["waste_categories"].as_array() {
            let c: Vec<&str> = c.iter().filter_map(Value::as_str).collect();
            o += &format!("  waste        {}\n", c.join(", "));
        }
        o += &format!(
            "  issued       {} (log index {})\n",
            super::cst_json(&m["issued_at"]),
            m["issue_index"]
        );
        o += "  (public view: sign with a key of a party to it, --key FILE, to see more)\n";
        return o;
    }
    let current = m["versions"]
        .as_array()
        .and_then(|v| v.last())
        .cloned()
        .unwrap_or(Value::Null);
    o += &format!(
        "manifest {} ({}), version {}\n",
        s(&m["number"]),
        s(&m["stream"]),
        current["version"]
    );
    o += &format!("  status       {}\n", s(&m["status"]));
    o += &format!("  holder       {}", s(&m["holder"]));
    if let Some(v) = m["vehicle"].as_str() {
        o += &format!("  vehicle {v}");
    }
    o += "\n";
    o += &format!(
        "  issuer       {} from {}{}\n",
        s(&m["issuer"]),
        s(&m["origin"]),
        m["reference"]
            .as_str()
            .map(|r| format!(", reference {r}"))
            .unwrap_or_default()
    );
    o += &format!(
        "  issued       {} (log index {})\n",
        super::cst_json(&m["issued_at"]),
        m["issue_index"]
    );
    o += &format!("  destination  {}\n", s(&current["destination"]));
    let haulers: Vec<&str> = current["haulers"]
        .as_array()
        .map(|h| h.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    o += &format!(
        "  haulers      {}\n",
        if haulers.is_empty() {
            "-".to_string()
        } else {
            haulers.join(", ")
        }
    );
    if let Some(r) = m["rejection"].as_object() {
        o += &format!(
            "  rejection    {} (goes to {})\n",
            s(&r["reason"]),
            s(&r["to"])
        );
    }
    for (k, label) in [("sources", "made from"), ("onward", "went on as")] {
        if let Some(a) = m[k].as_array().filter(|a| !a.is_empty()) {
            let a: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
            o += &format!("  {label:<12} {}\n", a.join(", "));
        }
    }
    o += "lines\n";
    for (i, l) in current["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let what = l["code"].as_str().or(l["cw_type"].as_str()).unwrap_or("-");
        let hazards: Vec<&str> = l["hazards"]
            .as_array()
            .map(|h| h.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        o += &format!("  {}  {what}  {}  {}", i + 1, s(&l["name"]), s(&l["form"]));
        if !hazards.is_empty() {
            o += &format!("  [{}]", hazards.join(","));
        }
        o += &format!(
            "\n     declared {}  now {}",
            qty(&l["quantity"]),
            qty(&m["quantities"][i])
        );
        for k in ["accepted", "rejected", "treated"] {
            if m[k].get(i).is_some() {
                o += &format!("  {k} {}", qty(&m[k][i]));
            }
        }
        o += "\n";
    }
    o += "steps\n";
    for st in m["steps"].as_array().into_iter().flatten() {
        o += &format!(
            "  #{:<6} {}  {:<20}",
            st["index"].to_string(),
            super::cst_json(&st["time"]),
            s(&st["type"])
        );
        if st.get("from").is_some() || st.get("to").is_some() {
            o += &format!(" {} → {}", s(&st["from"]), s(&st["to"]));
        }
        if let Some(v) = st["vehicle"].as_str() {
            o += &format!("  {v}");
        }
        if st.get("quantities").is_some() {
            o += &format!("  {}", qtys(&st["quantities"]));
        }
        o += "\n";
    }
    let flags = m["flags"].as_array().cloned().unwrap_or_default();
    if flags.is_empty() {
        o += "flags: none\n";
    } else {
        o += "flags\n";
        for f in &flags {
            o += &format!(
                "  {:<13} #{:<6} {}\n",
                s(&f["kind"]),
                f["index"].to_string(),
                s(&f["detail"])
            );
        }
    }
    let pending = m["pending"].as_array().cloned().unwrap_or_default();
    if !pending.is_empty() {
        o += "hand-overs signed by one party\n";
        for p in &pending {
            let e = &p["event"];
            let state = if p["status"] == "completed" {
                format!("completed (log index {})", p["completed_index"])
            } else {
                "pending: waiting for the countersignature".to_string()
            };
            o += &format!(
                "  {}  {} → {}  {}\n",
                s(&p["hash"]),
                s(&e["from"]),
                s(&e["to"]),
                state
            );
            if p["status"] != "completed" {
                o += &format!(
                    "     countersign: wasteledger countersign --server {server} --key KEY.pem --pending {}\n",
                    s(&p["hash"])
                );
            }
        }
    }
    o
}

fn print_list(body: &Value) {
    let rows = body["manifests"].as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        println!("no manifests");
        return;
    }
    println!(
        "{:<15} {:<12} {:<12} {:<19} {:<14} {:<24} FLAGS",
        "NUMBER", "STREAM", "STATUS", "HOLDER", "DESTINATION", "ISSUED"
    );
    for r in &rows {
        let flags: Vec<&str> = r["flags"]
            .as_array()
            .map(|f| f.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        println!(
            "{:<15} {:<12} {:<12} {:<19} {:<14} {:<24} {}",
            s(&r["number"]),
            s(&r["stream"]),
            s(&r["status"]),
            s(&r["holder"]),
            s(&r["destination"]),
            super::cst_json(&r["issued_at"]),
            if flags.is_empty() {
                "-".to_string()
            } else {
                flags.join(",")
            }
        );
    }
    println!("{} manifest(s)", rows.len());
    if body.get("next").is_some() {
        println!("more remain: raise --limit to list them");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_read_as_people_write_them_and_exactly() {
        let g = |a| Quantity::new(a, Unit::G);
        let ml = |a| Quantity::new(a, Unit::Ml);
        assert_eq!(parse_qty("340kg", Unit::G), Ok(g(340_000)));
        assert_eq!(parse_qty(" 340 KG ", Unit::G), Ok(g(340_000)));
        assert_eq!(parse_qty("1.234567t", Unit::G), Ok(g(1_234_567)));
        assert_eq!(parse_qty("0.5l", Unit::G), Ok(ml(500)));
        assert_eq!(parse_qty("2 m3", Unit::G), Ok(ml(2_000_000)));
        assert_eq!(parse_qty("1_500", Unit::Ml), Ok(ml(1_500)));
        assert_eq!(parse_qty("120000", Unit::G), Ok(g(120_000)));
        assert!(parse_qty("1.5g", Unit::G).unwrap_err().contains("whole"));
        assert!(parse_qty("3 lb", Unit::G)
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_qty("kg", Unit::G).is_err());
        assert!(parse_qty("-3kg", Unit::G).is_err());
        assert!(parse_qty("99999999999999999999", Unit::G).is_err());
    }

    #[test]
    fn places_are_exact_micro_degrees() {
        assert_eq!(parse_e6("31.385712", "latitude", 90).unwrap(), 31_385_712);
        assert_eq!(parse_e6("120.9", "longitude", 180).unwrap(), 120_900_000);
        assert_eq!(parse_e6("-33.5", "latitude", 90).unwrap(), -33_500_000);
        assert!(parse_e6("31.1234567", "latitude", 90).is_err());
        assert!(parse_e6("91", "latitude", 90).is_err());
        assert!(parse_e6("north", "latitude", 90).is_err());
    }

    #[test]
    fn toml_date_times_become_strings() {
        let v = json!({"a": {"$__toml_private_datetime": "2024-01-01T00:00:00Z"}, "b": [1]});
        assert_eq!(untoml(v), json!({"a": "2024-01-01T00:00:00Z", "b": [1]}));
    }
}
