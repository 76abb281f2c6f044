//! `wasteledger demo`: a fresh log with the demo keys, a Kunshan week played from
//! fixtures/demo, then the server.
//!
//! The scenario is data: `fixtures/demo/world.json` (the parties, their sites, licences,
//! vehicles and drivers, registered by the demo authority on day 0) and
//! `fixtures/demo/week.json` (the week's steps in time order: when, who signs, the event body).
//! Both are compiled in. The week lies in the past (it starts at midnight China Standard Time
//! seven days before the demo runs), so that read-time flags such as `overdue` show; while it
//! plays, the log's clock is set to each step's time, and afterwards it follows the wall clock.

use super::{domain_rules, parse_public_url, serve_with_options, TlsArgs, DEFAULT_ORIGIN};
use crate::domain::codes::ManifestNumber;
use crate::domain::model::Status;
use crate::domain::personal::commit;
use crate::domain::{DomainRules, RULEBOOK};
use crate::keyfile;
use crate::ledger::event::{PublicKey, SignedEvent, VerifiedEvent};
use crate::ledger::time::Timestamp;
use crate::store::{Clock, Config, Genesis, Ledger, Receipt};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use ed25519_dalek::SigningKey;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Args)]
pub struct Options {
    /// An empty (or absent) directory for the demo log.
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The URL phones reach the demo at (e.g. https://192.168.1.20:8443 with --listen
    /// 0.0.0.0:8443): its QR codes, labels and printed pages then point at `URL/m/TOKEN`.
    /// Default: the address it listens on.
    #[arg(long, value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// The console map's base tiles (as `serve --tile-url`); default none: vector layers only.
    #[arg(long, value_parser = super::parse_tile_url)]
    pub tile_url: Option<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

const WORLD: &str = include_str!("../../fixtures/demo/world.json");
const WEEK: &str = include_str!("../../fixtures/demo/week.json");

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;
/// China Standard Time is UTC+8 all year.
const CST_MS: u64 = 8 * HOUR_MS;
/// The week is 7 days long; it ends at the last midnight (CST) before the demo runs.
const WEEK_DAYS: u64 = 7;

/// The log's clock during the demo: a time set step by step while the week plays (0: none set),
/// the wall clock once it is released. The sequencer never lets the log's time go backwards.
struct DemoClock {
    fixed: AtomicU64,
}

impl DemoClock {
    fn set(&self, t: Timestamp) {
        self.fixed.store(t.unix_millis().max(1), Ordering::SeqCst);
    }

    /// Follow the wall clock from now on (events that parties submit after the demo).
    fn release(&self) {
        self.fixed.store(0, Ordering::SeqCst);
    }
}

impl Clock for DemoClock {
    fn now(&self) -> Timestamp {
        match self.fixed.load(Ordering::SeqCst) {
            0 => wall_clock(),
            ms => Timestamp::from_unix_millis(ms),
        }
    }
}

fn wall_clock() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct World {
    #[serde(rename = "about")]
    _about: String,
    /// When the authority registers everyone (an offset into the week).
    registered: String,
    parties: Vec<PartySpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartySpec {
    /// The name steps use for it (`@short` in bodies, `by`) and its key file's name.
    short: String,
    uscc: String,
    name_zh: String,
    name_en: String,
    roles: Vec<String>,
    /// The company's business phone (printed on its container labels).
    #[serde(default)]
    phone: Option<String>,
    /// `site.registered` bodies without `type` and `party`.
    #[serde(default)]
    sites: Vec<Map<String, Value>>,
    /// `licence.granted` bodies without `type` and `party`.
    #[serde(default)]
    licences: Vec<Map<String, Value>>,
    /// `vehicle.registered` bodies without `type` and `party`.
    #[serde(default)]
    vehicles: Vec<Map<String, Value>>,
    /// Its drivers' names (personal data: each registered once by this party as a person, whose
    /// id, `%name`, the hand-overs carry; the name only beside the log).
    #[serde(default)]
    drivers: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Week {
    #[serde(rename = "about")]
    _about: String,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    /// When: `+DAYdHH:MM` from the start of the week (China Standard Time).
    t: String,
    /// Who signs: parties' short names, or `authority`.
    by: Vec<String>,
    /// The label of the manifest this step creates (an issue or a consolidation).
    #[serde(default)]
    label: Option<String>,
    /// The labels of the manifests a split creates, in order.
    #[serde(default)]
    labels: Vec<String>,
    /// Why the summary points at the labelled manifest.
    #[serde(default)]
    show: Option<String>,
    #[serde(default)]
    note: Option<String>,
    event: Map<String, Value>,
}

/// A fixture party on the log: its id and its (demo) key.
struct Actor {
    short: String,
    id: String,
    name: String,
    roles: Vec<String>,
    key: SigningKey,
    file: PathBuf,
}

/// A driver: the person id events carry (the commitment to the name), and what opens it.
struct Driver {
    commitment: String,
    salt: [u8; 32],
    fleet: String,
    /// The short name of the party the driver works for (who registers them).
    fleet_short: String,
}

pub fn run(opts: Options) -> Result<()> {
    if Ledger::exists(&opts.data) {
        bail!(
            "{} already holds a log: the demo plays its week into a new one; pick an empty (or absent) directory",
            opts.data.display()
        );
    }
    // Fail before anything is written if the address cannot be listened on; keep the port
    // until the server takes it over.
    let probe = std::net::TcpListener::bind(&opts.listen)
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = probe.local_addr()?;
    let tls = opts.tls.load()?;

    let keys = demo_keys_dir()?;
    let log_key = keyfile::read(&keys.join("demo-log.pem"))?;
    let authority_file = keys.join("demo-authority.pem");
    let authority = keyfile::read(&authority_file)?;
    let world: World = serde_json::from_str(WORLD).context("fixtures/demo/world.json")?;
    let week: Week = serde_json::from_str(WEEK).context("fixtures/demo/week.json")?;

    let now = wall_clock();
    let start = week_start(now);
    let registered = at_offset(start, &world.registered, "registered")?;
    let clock = Arc::new(DemoClock {
        fixed: AtomicU64::new(0),
    });
    clock.set(registered);

    let rules = domain_rules(None)?;
    let genesis = Genesis::new(DEFAULT_ORIGIN, log_key, &authority, Some(RULEBOOK))?;
    let ledger = Ledger::create(
        &opts.data,
        Config::default(),
        genesis,
        Arc::new(rules.clone()),
        clock.clone(),
    )?;

    let mut play = Play::new(
        &ledger, &rules, &clock, start, authority, &world, &opts.data,
    )?;
    play.register(&world, registered)?;
    play.week(&week)?;
    clock.release();

    let example = play.example_inspection(&opts.data)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{addr}");
    // The demo's codes carry its public URL (by default its own), so a scan opens the
    // manifest here.
    let public = opts.public_url.unwrap_or_else(|| url.clone());
    let summary = play.summary(&opts.data, &url, &public, &authority_file, &example);
    eprint!("{summary}");
    drop(probe);
    let http = crate::http::Options {
        workers: crate::http::default_workers(),
        public_url: Some(public),
        tls,
        tile_url: opts.tile_url,
        ..crate::http::Options::default()
    };
    serve_with_options(ledger, rules, &addr.to_string(), http)
}

/// keys/ beside the current directory, else the crate's own.
fn demo_keys_dir() -> Result<PathBuf> {
    let candidates = [
        PathBuf::from("keys"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("keys"),
    ];
    candidates
        .iter()
        .find(|d| d.join("demo-log.pem").exists() && d.join("demo-authority.pem").exists())
        .cloned()
        .ok_or_else(|| {
            anyhow!(
                "cannot find the demo keys (keys/demo-log.pem, keys/demo-authority.pem) in ./keys or {}",
                candidates[1].display()
            )
        })
}

/// Midnight China Standard Time, seven days before the last midnight before `now`: the week
/// is over by the time the demo runs.
fn week_start(now: Timestamp) -> Timestamp {
    let day = (now.unix_millis() + CST_MS) / DAY_MS;
    Timestamp::from_unix_millis((day - WEEK_DAYS) * DAY_MS - CST_MS)
}

/// `+DAYd`, `+DAYdHH:MM` or `-DAYd…`: milliseconds from the start of the week.
fn parse_offset(s: &str) -> Option<i64> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (days, hm) = rest.split_once('d')?;
    if days.is_empty() || !days.bytes().all(|b| b.is_ascii_digit()) || days.len() > 5 {
        return None;
    }
    let days: i64 = days.parse().ok()?;
    let mins = match hm {
        "" => 0,
        _ => {
            let (h, m) = hm.split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
            if !(0..24).contains(&h) || !(0..60).contains(&m) {
                return None;
            }
            h * 60 + m
        }
    };
    Some(sign * (days * DAY_MS as i64 + mins * 60_000))
}

fn at_offset(start: Timestamp, s: &str, what: &str) -> Result<Timestamp> {
    let off = parse_offset(s)
        .ok_or_else(|| anyhow!("{what}: expected a time like +1d08:30 or -400d, got {s:?}"))?;
    let ms = start.unix_millis() as i64 + off;
    Ok(Timestamp::from_unix_millis(ms.max(0) as u64))
}

/// The demo key of a fixture party: derived from its USCC, so anyone can recompute it.
fn party_key(uscc: &str) -> SigningKey {
    let seed: [u8; 32] = Sha256::digest(format!("wasteledger demo party {uscc}")).into();
    SigningKey::from_bytes(&seed)
}

/// A driver's salt, derived from the name (demo only: a real salt is random).
fn driver_salt(name: &str) -> [u8; 32] {
    Sha256::digest(format!("wasteledger demo driver salt {name}")).into()
}

struct Play<'a> {
    ledger: &'a Ledger,
    rules: &'a DomainRules,
    clock: &'a DemoClock,
    start: Timestamp,
    authority: SigningKey,
    actors: Vec<Actor>,
    by_short: HashMap<String, usize>,
    drivers: BTreeMap<String, Driver>,
    manifests: BTreeMap<String, ManifestNumber>,
    /// Labelled manifests the summary points at, and why.
    shows: Vec<(String, String)>,
    first: Option<Timestamp>,
    last: Timestamp,
}

impl<'a> Play<'a> {
    fn new(
        ledger: &'a Ledger,
        rules: &'a DomainRules,
        clock: &'a DemoClock,
        start: Timestamp,
        authority: SigningKey,
        world: &World,
        data: &Path,
    ) -> Result<Self> {
        let mut actors = Vec::new();
        let mut by_short = HashMap::new();
        let mut drivers = BTreeMap::new();
        for p in &world.parties {
            if p.short == "authority" || by_short.insert(p.short.clone(), actors.len()).is_some() {
                bail!(
                    "fixtures/demo/world.json: the short name {:?} is taken",
                    p.short
                );
            }
            let key = party_key(&p.uscc);
            let file = data.join("keys").join(format!("{}.pem", p.short));
            write_key(&file, &key)?;
            for name in &p.drivers {
                let salt = driver_salt(name);
                let d = Driver {
                    commitment: commit(&salt, name).as_str().to_string(),
                    salt,
                    fleet: p.uscc.clone(),
                    fleet_short: p.short.clone(),
                };
                if drivers.insert(name.clone(), d).is_some() {
                    bail!("fixtures/demo/world.json: driver {name:?} is listed twice");
                }
            }
            actors.push(Actor {
                short: p.short.clone(),
                id: p.uscc.clone(),
                name: p.name_zh.clone(),
                roles: p.roles.clone(),
                key,
                file,
            });
        }
        Ok(Play {
            ledger,
            rules,
            clock,
            start,
            authority,
            actors,
            by_short,
            drivers,
            manifests: BTreeMap::new(),
            shows: Vec::new(),
            first: None,
            last: start,
        })
    }

    fn actor(&self, short: &str) -> Result<&Actor> {
        self.by_short
            .get(short)
            .map(|&i| &self.actors[i])
            .ok_or_else(|| anyhow!("no party {short:?} in fixtures/demo/world.json"))
    }

    fn signer(&self, short: &str) -> Result<SigningKey> {
        if short == "authority" {
            return Ok(self.authority.clone());
        }
        Ok(self.actor(short)?.key.clone())
    }

    /// Sign `body` with `keys`, log it at `time`, and wait until it is durable.
    fn submit(&mut self, time: Timestamp, body: Value, keys: &[SigningKey]) -> Result<Receipt> {
        if time < self.last {
            bail!(
                "steps must be in time order: {} comes after {}",
                Timestamp::cst(time),
                Timestamp::cst(self.last)
            );
        }
        self.clock.set(time);
        let refs: Vec<&SigningKey> = keys.iter().collect();
        let event = SignedEvent::sign(body, &refs)?;
        let receipt = self.ledger.submit_blocking(VerifiedEvent::check(event)?)?;
        self.first.get_or_insert(time);
        self.last = time;
        Ok(receipt)
    }

    /// The authority registers every party, its key, sites, licences and vehicles; each hauler
    /// registers its drivers once (`person.registered`), and their names are lodged beside the
    /// log (never in it).
    fn register(&mut self, world: &World, at: Timestamp) -> Result<()> {
        let auth = [self.authority.clone()];
        for (p, a) in world.parties.iter().zip(0..) {
            let actor = &self.actors[a];
            let id = actor.id.clone();
            let pk = PublicKey(actor.key.verifying_key()).to_string();
            let name = format!("{} / {}", p.name_zh, p.name_en);
            let roles = p.roles.clone();
            let mut reg =
                json!({"type": "party.registered", "party": id, "name": name, "roles": roles});
            if let Some(phone) = &p.phone {
                reg["phone"] = json!(phone);
            }
            self.submit(at, reg, &auth)
                .with_context(|| format!("registering {}", p.short))?;
            self.submit(
                at,
                json!({"type": "key.added", "key": pk, "holder": id}),
                &auth,
            )
            .with_context(|| format!("adding the key of {}", p.short))?;
        }
        for p in &world.parties {
            let kinds = [
                ("site.registered", &p.sites),
                ("licence.granted", &p.licences),
                ("vehicle.registered", &p.vehicles),
            ];
            for (kind, items) in kinds {
                for item in items {
                    let mut body = item.clone();
                    body.insert("type".into(), json!(kind));
                    body.insert("party".into(), json!(p.uscc));
                    let body = self.resolve(&Value::Object(body))?;
                    self.submit(at, body, &auth)
                        .with_context(|| format!("{kind} for {}: {item:?}", p.short))?;
                }
            }
        }
        let registrations: Vec<(Value, SigningKey)> = self
            .drivers
            .values()
            .map(|d| {
                let body = json!({"type": "person.registered", "person": d.commitment,
                                  "party": d.fleet, "role": "driver"});
                Ok((body, self.signer(&d.fleet_short)?))
            })
            .collect::<Result<_>>()?;
        for (body, key) in registrations {
            let person = body["person"].clone();
            self.submit(at, body, &[key])
                .with_context(|| format!("registering driver {person}"))?;
        }
        for (name, d) in &self.drivers {
            let record = json!({"kind": "driver_name", "value": name, "salt": hex::encode(d.salt),
                                "lodged_by": d.fleet, "lodged_at": at});
            self.ledger
                .put_personal(&d.commitment, record.to_string().as_bytes(), &d.fleet)?;
        }
        Ok(())
    }

    fn week(&mut self, week: &Week) -> Result<()> {
        let end = Timestamp::from_unix_millis(self.start.unix_millis() + WEEK_DAYS * DAY_MS);
        for (i, step) in week.steps.iter().enumerate() {
            let kind = step
                .event
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            let what = format!(
                "fixtures/demo/week.json step {} ({kind} at {}{})",
                i + 1,
                step.t,
                step.note
                    .as_deref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            );
            let t = at_offset(self.start, &step.t, &what)?;
            if t < self.start || t >= end {
                bail!("{what}: a time inside the week (+0d00:00 to +6d23:59)");
            }
            let mut body = step.event.clone();
            if matches!(
                kind.as_str(),
                "custody.handover" | "custody.weighed" | "inspection.recorded"
            ) && !body.contains_key("at")
            {
                body.insert("at".into(), json!(t));
            }
            let body = self.resolve(&Value::Object(body)).context(what.clone())?;
            if step.by.is_empty() {
                bail!("{what}: nobody signs it (by)");
            }
            let keys = step
                .by
                .iter()
                .map(|s| self.signer(s))
                .collect::<Result<Vec<_>>>()
                .context(what.clone())?;
            let receipt = self.submit(t, body, &keys).context(what.clone())?;
            let created = receipt
                .created
                .iter()
                .map(|n| ManifestNumber::parse(n))
                .collect::<Result<Vec<_>, _>>()
                .context(what.clone())?;
            let labels: Vec<&String> = step.label.iter().chain(&step.labels).collect();
            if !labels.is_empty() && labels.len() != created.len() {
                bail!(
                    "{what}: {} label(s) for the {} manifest(s) the step created",
                    labels.len(),
                    created.len()
                );
            }
            for (l, n) in labels.into_iter().zip(created) {
                if self.manifests.insert(l.clone(), n).is_some() {
                    bail!("{what}: the label {l:?} is used twice");
                }
                if let Some(why) = &step.show {
                    self.shows.push((l.clone(), why.clone()));
                }
            }
        }
        Ok(())
    }

    /// Resolve the fixture's references: `@short` a party's USCC, `$label` a manifest number,
    /// `%name` a driver's person id, `+DAYdHH:MM` a time.
    fn resolve(&self, v: &Value) -> Result<Value> {
        Ok(match v {
            Value::String(s) => {
                if let Some(short) = s.strip_prefix('@') {
                    json!(self.actor(short)?.id)
                } else if let Some(label) = s.strip_prefix('$') {
                    json!(self.manifests.get(label).ok_or_else(|| anyhow!(
                        "no manifest labelled {label:?} yet (the step that creates it must come first)"
                    ))?)
                } else if let Some(name) = s.strip_prefix('%') {
                    json!(
                        self.drivers
                            .get(name)
                            .ok_or_else(|| anyhow!("no driver {name:?} in world.json"))?
                            .commitment
                    )
                } else if parse_offset(s).is_some() {
                    json!(at_offset(self.start, s, "time")?)
                } else {
                    v.clone()
                }
            }
            Value::Array(a) => {
                Value::Array(a.iter().map(|x| self.resolve(x)).collect::<Result<_>>()?)
            }
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| Ok((k.clone(), self.resolve(x)?)))
                    .collect::<Result<_>>()?,
            ),
            other => other.clone(),
        })
    }

    /// What the demo did and what to open, for a person at a terminal.
    /// An event a person can submit as it is: the bureau's roadside check of the overdue load
    /// (the first manifest still on the road), written to `DIR/examples/inspection.json`.
    fn example_inspection(&self, data: &Path) -> Result<PathBuf> {
        let d = self.rules.read();
        let bureau = self
            .actors
            .iter()
            .find(|a| a.roles.iter().any(|r| r == "inspector"))
            .context("the demo world has an inspector")?;
        let on_road = d
            .find_manifest(&mut |m| m.status == Status::InTransit)
            .context("the demo week leaves a load on the road")?;
        let mut body = serde_json::json!({
            "type": "inspection.recorded",
            "inspector": bureau.id,
            "manifest": on_road.number,
            "at": wall_clock().to_string(),
            "verdict": "violation",
            "findings": "路检：联单超期在途，车辆不在任何登记场所 (roadside check: the load is overdue and its truck stands outside every registered site)",
        });
        if let Some(plate) = &on_road.vehicle {
            body["vehicle"] = serde_json::json!(plate);
        }
        let dir = data.join("examples");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("inspection.json");
        std::fs::write(&path, serde_json::to_string_pretty(&body)? + "\n")?;
        Ok(path)
    }

    /// `url`: where the server listens (the CLI's `--server`); `public`: where phones reach it.
    fn summary(
        &self,
        data: &Path,
        url: &str,
        public: &str,
        authority_file: &Path,
        example: &Path,
    ) -> String {
        let d = self.rules.read();
        let now = wall_clock();
        let label_of: HashMap<&ManifestNumber, &str> = self
            .manifests
            .iter()
            .map(|(l, n)| (n, l.as_str()))
            .collect();
        let mut by_status: BTreeMap<Status, usize> = BTreeMap::new();
        let mut by_stream: BTreeMap<&str, usize> = BTreeMap::new();
        d.each_manifest(&mut |m| {
            *by_status.entry(m.status).or_default() += 1;
            *by_stream.entry(m.stream.as_str()).or_default() += 1;
            ControlFlow::Continue(())
        });
        let mut o = String::new();
        let _ = writeln!(
            o,
            "\nwasteledger demo: a week in Kunshan played into {}",
            data.display()
        );
        let _ = writeln!(
            o,
            "  {} entries in the log, the week's from {} to {}; the log's clock now follows the wall clock",
            self.ledger.head().size,
            Timestamp::cst(self.first.unwrap_or(self.start)),
            Timestamp::cst(self.last)
        );
        let _ = writeln!(
            o,
            "  {} manifests ({}); by status: {}",
            d.manifest_count(),
            counts(by_stream.iter().map(|(s, n)| (s.to_string(), *n))),
            counts(by_status.iter().map(|(s, n)| (s.as_str().to_string(), *n)))
        );
        if url.starts_with("https://") {
            let _ = writeln!(
                o,
                "  served over HTTPS; the wasteledger commands below speak plain HTTP: they reach a demo run without --tls-cert"
            );
        }
        let _ = writeln!(o, "  flagged, as of now:");
        let mut any = false;
        d.each_manifest(&mut |m| {
            let flags = m.flags_at(now, d.limits());
            if flags.is_empty() {
                return ControlFlow::Continue(());
            }
            any = true;
            let _ = writeln!(
                o,
                "    {} ({}, {}), {}:",
                m.number,
                label_of.get(&m.number).copied().unwrap_or("-"),
                m.reference.as_deref().unwrap_or("station load"),
                m.status.as_str()
            );
            for f in flags {
                let kind = serde_json::to_value(f.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                let _ = writeln!(o, "      {kind} (entry {}): {}", f.index, f.detail);
            }
            ControlFlow::Continue(())
        });
        if !any {
            let _ = writeln!(o, "    none");
        }
        let found = crate::investigate::detectors::detect(
            &*d,
            now,
            &crate::investigate::detectors::DetectorConfig::default(),
        );
        let _ = writeln!(
            o,
            "  anomalies the detectors find, as of now ({}):",
            found.len()
        );
        for a in &found {
            let entries: Vec<String> = a.entries.iter().map(|i| i.to_string()).collect();
            let _ = writeln!(
                o,
                "    {} (entries {}): {}",
                a.kind.as_str(),
                entries.join(", "),
                a.reason
            );
        }
        let _ = writeln!(
            o,
            "\n  open (without a signature you get the public view a QR scan shows; a GET signed by a party to the manifest, the bureau or the authority gets the full one):"
        );
        let _ = writeln!(
            o,
            "    {url}/v1/log/checkpoint    the signed checkpoint; verifier key {}",
            self.ledger.verifier()
        );
        for (label, why) in &self.shows {
            if let Some(n) = self.manifests.get(label) {
                let _ = writeln!(o, "    {url}/v1/manifests/{n}    {label}: {why}");
            }
        }
        let _ = writeln!(
            o,
            "    {url}/v1/openapi.json    the API (manifest lists, vehicles, sites, licences, proofs)"
        );
        // The first manifest with containers that still moves (a closed one gets no new
        // codes): its labels and a scan, as a party would do it.
        if let Some(m) = d.find_manifest(&mut |m| {
            !m.status.is_closed() && m.current().lines.iter().any(|l| !l.containers.is_empty())
        }) {
            let issuer = self
                .actors
                .iter()
                .find(|a| a.id == m.issuer.as_str())
                .map(|a| a.file.display().to_string())
                .unwrap_or_else(|| "PARTY.pem".into());
            let _ = writeln!(
                o,
                "\n  QR codes (signed by the log's key, rendered on request; a phone's camera opens {public}/m/<token>):\n    wasteledger print --server {url} --key {issuer} --manifest {} --labels --out labels.html    the container labels (HJ 1276-2022 layout), one code each\n    wasteledger print --server {url} --key {issuer} --manifest {} --qr --out code.png\n    wasteledger scan code.png --log-key '{}' --server {url}    verify offline, then the live status",
                m.number,
                m.number,
                self.ledger.verifier()
            );
        }
        let _ = writeln!(
            o,
            "\n  the parties (registry: {url}/v1/parties/<USCC>) and their keys: DEMO KEYS, derived from public seeds (SHA-256 of \"wasteledger demo party \" and the USCC): anyone can sign with them; never use them for anything real:"
        );
        for a in &self.actors {
            let _ = writeln!(
                o,
                "    {:<10} {}  {}  {}  {}",
                a.short,
                a.id,
                a.name,
                a.roles.join("+"),
                a.file.display()
            );
        }
        let _ = writeln!(
            o,
            "    authority  {}  (registers parties, keys, licences, vehicles, sites; reads everything)",
            authority_file.display()
        );
        let bureau = self
            .actors
            .iter()
            .find(|a| a.roles.iter().any(|r| r == "inspector"))
            .map(|a| a.file.display().to_string())
            .unwrap_or_else(|| "INSPECTOR.pem".into());
        let _ = writeln!(
            o,
            "  act as a party: write an event body (JSON with \"type\", e.g. a step's event from fixtures/demo/week.json, with USCCs and manifest numbers filled in) and"
        );
        let _ = writeln!(
            o,
            "    wasteledger submit --server {url} --key {bureau} {}    (this one is written: the bureau's roadside check of the load still on the road)",
            example.display()
        );
        let _ = writeln!(
            o,
            "    (a hand-over needs both parties' keys: --key GIVER.pem --key TAKER.pem; it names its driver by the person id the hauler registered: --driver ID)"
        );
        let _ = writeln!(
            o,
            "  wasteledger anomalies --server {url} --key {bureau}\n    lists what the anomaly detectors find (GET /v1/anomalies; --kind, --vehicle, --party, --site, --from, --to)"
        );
        // The demo's busiest driver, if the fixture still has them.
        let driver = ["张建国"]
            .into_iter()
            .chain(self.drivers.keys().map(String::as_str))
            .find(|n| self.drivers.contains_key(*n));
        if let Some(name) = driver {
            let _ = writeln!(
                o,
                "  wasteledger search --server {url} --key {bureau} --driver-name {name}\n    every load of one driver: each is registered once by their hauler (person.registered, a pseudonymous id); names are kept beside the log, read by the bureau (wasteledger personal show ID)"
            );
        }
        let _ = writeln!(
            o,
            "  wasteledger audit --server {url} --key {bureau} --log-key '{}'\n    re-checks every entry over HTTP (entries are served to inspectors, enforcement, auditors and the authority)\n",
            self.ledger.verifier()
        );
        o
    }
}

/// `a 3, b 1`
fn counts(items: impl Iterator<Item = (String, usize)>) -> String {
    items
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Write a party's key file, or accept the one there if it holds the same key.
fn write_key(path: &Path, key: &SigningKey) -> Result<()> {
    if path.exists() {
        let there = keyfile::read(path)?;
        if there.to_bytes() != key.to_bytes() {
            bail!(
                "{} holds another key; the demo writes its parties' keys there: pick an empty (or absent) directory",
                path.display()
            );
        }
        return Ok(());
    }
    keyfile::write(path, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_from_the_start_of_the_week() {
        assert_eq!(parse_offset("+0d"), Some(0));
        assert_eq!(
            parse_offset("+1d08:30"),
            Some(DAY_MS as i64 + 8 * 3_600_000 + 1_800_000)
        );
        assert_eq!(parse_offset("-400d"), Some(-400 * DAY_MS as i64));
        for bad in [
            "1d08:30",
            "+d",
            "+1d8:30",
            "+1d24:00",
            "+1d08:60",
            "+1x",
            "@x",
            "+1d08:30x",
        ] {
            assert_eq!(parse_offset(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_week_is_over_before_the_demo_runs() {
        let now = Timestamp::parse("2026-11-29T03:00:00Z").unwrap(); // 11:00 CST
        let start = week_start(now);
        assert_eq!(Timestamp::cst(start), "2026-11-22 00:00:00 CST");
        let last = Timestamp::from_unix_millis(start.unix_millis() + WEEK_DAYS * DAY_MS - 60_000);
        assert!(last < now);
    }

    #[test]
    fn the_fixtures_parse_and_every_step_is_in_the_week_in_time_order() {
        let world: World = serde_json::from_str(WORLD).unwrap();
        let week: Week = serde_json::from_str(WEEK).unwrap();
        assert!(world.parties.len() >= 10);
        let mut last = 0;
        for s in &week.steps {
            let t = parse_offset(&s.t).unwrap_or_else(|| panic!("{}", s.t));
            assert!((0..(WEEK_DAYS * DAY_MS) as i64).contains(&t), "{}", s.t);
            assert!(t >= last, "{} is out of order", s.t);
            last = t;
        }
    }
}
