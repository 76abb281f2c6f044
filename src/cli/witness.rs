//! `wasteledger witness`: follow a log, cosign each new checkpoint that is consistent with the
//! last one cosigned (C2SP tlog-witness / tlog-cosignature), hand the cosignature back to the
//! log, and with `--listen` also serve `POST /add-checkpoint` so a log can push to it.
//! `wasteledger witness-key`: print a witness's verifier key.
//!
//! State: `STATE/state.json` (per origin the last cosigned checkpoint, and the logs halted),
//! written atomically (temp file, fsync, rename, fsync of the directory) *before* a cosignature
//! is handed out. The log's key is pinned in `STATE/log.vkey` on first use unless `--log-key`
//! is given.
//!
//! A fork, a roll-back or a consistency proof that fails, met while following, halts that log:
//! the refusal and the evidence (the log's signed checkpoint and the proof it served) go into
//! the state, `--once` exits non-zero, the follow loop logs it and never cosigns that log again
//! until an operator runs the witness once with `--clear-halt`.

use crate::client::LogClient;
use crate::http::witness::{witness_server, AddCheckpointFn, WitnessError};
use crate::keyfile;
use crate::ledger::cosignature::WitnessKey;
use crate::ledger::merkle::Hash;
use crate::ledger::note::NoteVerifier;
use crate::ledger::time::Timestamp;
use crate::witness::{AddCheckpoint, Halt, Refusal, Witness, WitnessState};
use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::SigningKey;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(clap::Args)]
pub struct WitnessArgs {
    /// Base URL of the log to follow. Without it the witness only serves `--listen` (a log
    /// pushes to it with `serve --push-witness`), and `--log-key` is required.
    #[arg(long)]
    log: Option<String>,
    /// The witness's key file (as made by `wasteledger keygen`).
    #[arg(long)]
    key: PathBuf,
    /// The witness's name (its cosignature key name; part of its key id). Default: the key
    /// file's name without extension, e.g. `w1` for `keys/w1.pem`.
    #[arg(long)]
    name: Option<String>,
    /// Directory holding the witness's state (created if missing).
    #[arg(long)]
    state: PathBuf,
    /// The log's verifier key (name+id+key), or a file holding it. Default: the key pinned in
    /// STATE/log.vkey, or on first use the one the log serves (then pinned).
    #[arg(long)]
    log_key: Option<String>,
    /// Seconds between two looks at the log.
    #[arg(long, default_value_t = 10)]
    interval: u64,
    /// Also serve tlog-witness `POST /add-checkpoint` on HOST:PORT.
    #[arg(long)]
    listen: Option<String>,
    /// Look once, cosign if there is something new, and exit (non-zero on a refusal).
    #[arg(long)]
    once: bool,
    /// Operator: forget that this log was halted (after investigating), then go on.
    #[arg(long)]
    clear_halt: bool,
}

#[derive(clap::Args)]
pub struct WitnessKeyArgs {
    /// The witness's key file.
    #[arg(long)]
    key: PathBuf,
    /// The witness's name (default: the key file's name without extension).
    #[arg(long)]
    name: Option<String>,
    /// Print it as JSON (`{"name", "verifier_key"}`)
    #[arg(long)]
    json: bool,
}

/// The witness's name: `--name`, else the key file's stem.
fn witness_name(key: &Path, name: Option<String>) -> Result<String> {
    match name {
        Some(n) => Ok(n),
        None => key
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
            .ok_or_else(|| {
                anyhow!(
                    "cannot derive a witness name from {}: give --name",
                    key.display()
                )
            }),
    }
}

pub fn print_key(a: WitnessKeyArgs) -> Result<()> {
    let key = keyfile::read(&a.key)?;
    let name = witness_name(&a.key, a.name)?;
    let vkey = WitnessKey::new(&name, key.verifying_key())?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({"name": name, "verifier_key": vkey.to_string()})
        );
    } else {
        println!("{vkey}");
    }
    Ok(())
}

/// Read a witness verifier key given as a string or as a file holding one.
pub fn parse_witness_key(s: &str) -> Result<WitnessKey> {
    let text = if Path::new(s).is_file() {
        std::fs::read_to_string(s).with_context(|| format!("cannot read {s}"))?
    } else {
        s.to_string()
    };
    WitnessKey::parse(text.trim()).with_context(|| format!("--witness {s:?}"))
}

/// Every `--witness` once: the same key twice (under any name) would count twice towards a
/// quorum.
pub fn parse_witness_keys(list: &[String]) -> Result<Vec<WitnessKey>> {
    let mut out: Vec<WitnessKey> = Vec::new();
    for s in list {
        let w = parse_witness_key(s)?;
        if let Some(o) = out.iter().find(|o| o.key == w.key) {
            anyhow::bail!(
                "--witness {s:?}: the same witness key as {o} (each witness counts once)"
            );
        }
        out.push(w);
    }
    Ok(out)
}

/// Write `bytes` to `path` atomically and durably: temp file, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// The witness: its key, the log it knows, and its state behind a lock, persisted before any
/// cosignature leaves (the check and the write are one step under the lock, as tlog-witness
/// requires).
struct Service {
    name: String,
    key: SigningKey,
    logs: Vec<NoteVerifier>,
    state: Mutex<WitnessState>,
    path: PathBuf,
}

impl Service {
    fn persist(&self, s: &WitnessState) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(s).expect("state serialises");
        write_atomic(&self.path, &json)
    }

    fn add_checkpoint(&self, body: &[u8]) -> Result<String, WitnessError> {
        let mut st = self.state.lock().expect("witness state lock");
        let w = Witness {
            name: &self.name,
            key: &self.key,
            logs: &self.logs,
        };
        let now = Timestamp::from_system_time(std::time::SystemTime::now());
        match w.add_checkpoint(&st, body, now) {
            Ok(c) => {
                self.persist(&c.state)
                    .map_err(|e| WitnessError::Internal(format!("writing the state: {e}")))?;
                *st = c.state;
                Ok(c.lines)
            }
            Err(r) => {
                let size = match &r {
                    Refusal::Conflict { size, .. } | Refusal::Fork { size, .. } => *size,
                    _ => 0,
                };
                Err(WitnessError::Refused(r, size))
            }
        }
    }

    fn halt(&self, origin: &str, halt: Halt) -> std::io::Result<()> {
        let mut st = self.state.lock().expect("witness state lock");
        let new = st.halt(origin, halt);
        self.persist(&new)?;
        *st = new;
        Ok(())
    }
}

fn load_state(path: &Path) -> Result<WitnessState> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .with_context(|| format!("{}: not a witness state file", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(WitnessState::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn log_verifier(a: &WitnessArgs, client: Option<&LogClient>) -> Result<NoteVerifier> {
    let pinned = a.state.join("log.vkey");
    if let Some(k) = &a.log_key {
        return super::scan::verifier_from(k);
    }
    if pinned.exists() {
        let text = std::fs::read_to_string(&pinned)?;
        return NoteVerifier::parse(text.trim()).with_context(|| format!("{}", pinned.display()));
    }
    let Some(client) = client else {
        bail!("--log-key is required without --log");
    };
    let v = client.verifier()?;
    write_atomic(&pinned, format!("{v}\n").as_bytes())?;
    eprintln!(
        "note: no --log-key: pinned the key the log serves, {v}, in {}",
        pinned.display()
    );
    Ok(v)
}

/// What one look at the log did.
enum Round {
    Cosigned {
        size: u64,
        root: Hash,
        posted: Result<String, String>,
    },
    Unchanged(u64),
}

fn parse_proof(json: &serde_json::Value) -> Result<Vec<Hash>> {
    json["hashes"]
        .as_array()
        .ok_or_else(|| anyhow!("consistency proof: no `hashes` array"))?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(|s| B64.decode(s).ok())
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| anyhow!("consistency proof: a hash is not base64 of 32 bytes"))
        })
        .collect()
}

/// Look at the log once: its checkpoint, the proof from what this witness last cosigned, the
/// add-checkpoint decision; on success hand the cosigned checkpoint to the log.
/// With `again`, an unchanged checkpoint is cosigned anew (same size, same root: allowed by
/// tlog-witness) so that a cosignature the log did not take last time is offered again.
fn round(svc: &Service, client: &LogClient, log: &NoteVerifier, again: bool) -> Result<Round> {
    let (cp, note) = client.checkpoint(log)?;
    let (old, last_root, halted) = {
        let st = svc.state.lock().expect("witness state lock");
        (
            st.size_of(&cp.origin),
            st.logs.get(&cp.origin).and_then(|r| r.root_hash()),
            st.halted.get(&cp.origin).cloned(),
        )
    };
    if let Some(h) = halted {
        bail!(
            "refusing {}: this witness halted it ({}); investigate, then run once with --clear-halt",
            cp.origin,
            h.reason
        );
    }
    if cp.size == old && last_root == Some(cp.root) && !again {
        return Ok(Round::Unchanged(old));
    }
    let proof = if old > 0 && cp.size > old {
        let a = client.get(&format!(
            "/v1/log/proof/consistency?from={old}&to={}",
            cp.size
        ))?;
        if a.status != 200 {
            bail!(
                "the log did not serve a consistency proof from {old} to {}: {} {}",
                cp.size,
                a.status,
                a.body
            );
        }
        parse_proof(&a.json()?)?
    } else {
        Vec::new()
    };
    let body = AddCheckpoint {
        old,
        proof: proof.clone(),
        note: note.clone(),
    }
    .to_body();
    match svc.add_checkpoint(body.as_bytes()) {
        Ok(lines) => {
            let cosigned = format!("{note}{lines}");
            let posted = match client.post("/v1/log/cosignatures", cosigned.as_bytes()) {
                Ok(a) if a.status == 200 => Ok(a.body),
                Ok(a) => Err(format!("{} {}", a.status, a.body)),
                Err(e) => Err(format!("{e:#}")),
            };
            Ok(Round::Cosigned {
                size: cp.size,
                root: cp.root,
                posted,
            })
        }
        Err(WitnessError::Refused(r, _)) if r.is_misbehaviour() => {
            svc.halt(
                &cp.origin,
                Halt {
                    reason: r.to_string(),
                    note,
                    proof: proof.iter().map(|h| B64.encode(h)).collect(),
                },
            )
            .context("recording the halt in the state")?;
            bail!("REFUSED {}: {r}; this witness will not cosign it again until an operator runs it with --clear-halt", cp.origin)
        }
        Err(WitnessError::Refused(r, _)) => bail!("not cosigned: {r}"),
        Err(WitnessError::Internal(e)) => bail!("not cosigned: {e}"),
    }
}

/// Print what a round did (a follower whose stdout went away keeps following).
fn report(r: &Round, origin: &str) {
    let mut out = std::io::stdout().lock();
    let _ = match r {
        Round::Cosigned { size, root, posted } => {
            let _ = writeln!(
                out,
                "cosigned {origin} size {size} root {}",
                B64.encode(root)
            );
            match posted {
                Ok(body) => writeln!(out, "the log kept it: {}", body.trim()),
                Err(e) => {
                    eprintln!("warning: the log did not take the cosignature: {e}");
                    Ok(())
                }
            }
        }
        Round::Unchanged(size) => writeln!(out, "{origin} unchanged at size {size}"),
    };
    let _ = out.flush();
}

pub fn run(a: WitnessArgs) -> Result<()> {
    if a.once && a.listen.is_some() {
        bail!("--once and --listen do not go together: --listen serves until stopped");
    }
    std::fs::create_dir_all(&a.state)
        .with_context(|| format!("cannot create {}", a.state.display()))?;
    let key = keyfile::read(&a.key)?;
    let name = witness_name(&a.key, a.name.clone())?;
    let me = WitnessKey::new(&name, key.verifying_key())?;
    if a.log.is_none() && a.listen.is_none() {
        bail!("give --log URL to follow a log, or --listen HOST:PORT to be pushed to (or both)");
    }
    let client = a.log.as_deref().map(LogClient::new);
    let log = log_verifier(&a, client.as_ref())?;
    let path = a.state.join("state.json");
    let svc = Arc::new(Service {
        name,
        key,
        logs: vec![log.clone()],
        state: Mutex::new(load_state(&path)?),
        path,
    });
    if a.clear_halt {
        let mut st = svc.state.lock().expect("witness state lock");
        if let Some(h) = st.halted.get(&log.name) {
            eprintln!("clearing the halt of {}: {}", log.name, h.reason);
            let mut new = st.clone();
            new.halted.remove(&log.name);
            svc.persist(&new)?;
            *st = new;
        }
    }
    if a.once {
        let Some(client) = &client else {
            bail!("--once needs --log URL");
        };
        let r = round(&svc, client, &log, false)?;
        report(&r, &log.name);
        return Ok(());
    }
    let mut server = None;
    if let Some(listen) = &a.listen {
        let listener = std::net::TcpListener::bind(listen)
            .with_context(|| format!("cannot listen on {listen}"))?;
        println!("listening on http://{}", listener.local_addr()?);
        let _ = std::io::stdout().flush();
        let s2 = svc.clone();
        let add: AddCheckpointFn = Arc::new(move |body: &[u8]| s2.add_checkpoint(body));
        server = Some(std::thread::spawn(move || {
            actix_web::rt::System::new()
                .block_on(async move { witness_server(add, listener, 2)?.await })
        }));
    }
    let Some(client) = client else {
        eprintln!("witness {me} for {log} serving add-checkpoint");
        let res = server.expect("--listen given").join();
        return match res {
            Ok(r) => Ok(r.context("the witness server stopped")?),
            Err(_) => bail!("the witness server panicked"),
        };
    };
    eprintln!("witness {me} following {} ({})", client.base(), log.name);
    let mut last_error = String::new();
    // Whether the log did not take the last cosignature (then it is offered again).
    let mut unposted = false;
    loop {
        match round(&svc, &client, &log, unposted) {
            Ok(r) => {
                if let Round::Cosigned { posted, .. } = &r {
                    unposted = posted.is_err();
                    report(&r, &log.name);
                }
                last_error.clear();
            }
            Err(e) => {
                let msg = format!("{e:#}");
                if msg != last_error {
                    eprintln!("{msg}");
                    last_error = msg;
                }
            }
        }
        std::thread::sleep(Duration::from_secs(a.interval.max(1)));
    }
}

/// `serve --push-witness URL`: a background thread that offers each new checkpoint of the log
/// to a tlog-witness (`POST URL/add-checkpoint` with the consistency proof from the size the
/// witness last cosigned, learnt from its 409 answers) and keeps the cosignatures it returns
/// (only if the witness is among `trusted`).
pub(crate) fn spawn_pusher(
    ledger: crate::store::Ledger,
    url: String,
    trusted: Vec<WitnessKey>,
    every: Duration,
) {
    std::thread::spawn(move || {
        let client = LogClient::new(&url);
        let (mut known, mut done) = (0u64, 0u64);
        let mut last_error = String::new();
        loop {
            let head = ledger.head();
            if head.size != done {
                match push_once(&ledger, &client, &trusted, &head, known) {
                    Ok(Pushed::Cosigned(who)) => {
                        eprintln!(
                            "witness {url} cosigned size {}: kept {}",
                            head.size,
                            who.join(", ")
                        );
                        known = head.size;
                        done = head.size;
                        last_error.clear();
                        continue;
                    }
                    Ok(Pushed::Conflict(n)) if n != known => {
                        known = n;
                        continue;
                    }
                    Ok(Pushed::Conflict(n)) => {
                        let msg = format!("witness {url}: 409 again with size {n}");
                        if msg != last_error {
                            eprintln!("{msg}");
                            last_error = msg;
                        }
                    }
                    Err(e) => {
                        let msg = format!("witness {url}: {e:#}");
                        if msg != last_error {
                            eprintln!("{msg}");
                            last_error = msg;
                        }
                    }
                }
            }
            std::thread::sleep(every);
        }
    });
}

enum Pushed {
    Cosigned(Vec<String>),
    /// The witness's size for this log (409).
    Conflict(u64),
}

fn push_once(
    ledger: &crate::store::Ledger,
    client: &LogClient,
    trusted: &[WitnessKey],
    head: &crate::store::Head,
    known: u64,
) -> Result<Pushed> {
    if known > head.size {
        bail!(
            "the witness has cosigned size {known}, larger than this log ({}): investigate",
            head.size
        );
    }
    let proof = if known == 0 || known == head.size {
        Vec::new()
    } else {
        ledger.consistency_proof(known, head.size)?
    };
    let body = AddCheckpoint {
        old: known,
        proof,
        note: head.checkpoint.clone(),
    }
    .to_body();
    let a = client.post("/add-checkpoint", body.as_bytes())?;
    match a.status {
        200 => {
            let note = format!("{}{}", head.checkpoint, a.body);
            let kept = ledger
                .accept_cosignatures(&note, trusted)
                .map_err(|e| anyhow!("its cosignature was not kept: {e}"))?;
            Ok(Pushed::Cosigned(kept.witnesses))
        }
        409 => {
            let n = a
                .body
                .trim()
                .parse()
                .map_err(|_| anyhow!("409 without a size (text/x.tlog.size): {:?}", a.body))?;
            Ok(Pushed::Conflict(n))
        }
        s => bail!("add-checkpoint answered {s}: {}", a.body.trim()),
    }
}
