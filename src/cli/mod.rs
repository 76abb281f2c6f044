//! The command line: a face over the library. Each subcommand turns flags into a call.

mod anomalies;
mod bundle;
mod client;
mod demo;
mod mirror;
mod party;
mod person;
mod scan;
mod search;
mod session;
mod templates;
mod witness;

use crate::domain::catalog::{Catalog, CATALOG_FILES};
use crate::domain::model::Limits;
use crate::domain::DomainRules;
use crate::keyfile;
use crate::ledger::event::PublicKey;
use crate::ledger::note::NoteVerifier;
use crate::ledger::time::{cst_text, DateAs, Timestamp};
use crate::store::{self, Config, Genesis, Ledger, SystemClock};
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The log's default name (its origin line in checkpoints).
pub const DEFAULT_ORIGIN: &str = "kunshan.wasteledger/log";

#[derive(Parser)]
#[command(
    name = "wasteledger",
    version,
    about = "Chain-of-custody ledger for hazardous and construction waste"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a new Ed25519 key pair (PKCS#8 PEM) and print its public key and verifier key.
    Keygen {
        #[arg(long)]
        out: PathBuf,
        /// Name for the verifier-key string (a log's name is its origin).
        #[arg(long, default_value = DEFAULT_ORIGIN)]
        name: String,
        /// Print the result as JSON (one object) instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Serve the log over HTTP; creates it on first start in an empty DIR.
    Serve {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Key that signs checkpoints (default: DIR/keys/log.pem, generated on first start).
        #[arg(long)]
        log_key: Option<PathBuf>,
        /// Authority key that signs genesis, first start only (default: generated into DIR/keys/authority.pem).
        #[arg(long)]
        authority_key: Option<PathBuf>,
        /// Name of the log (first start only).
        #[arg(long, default_value = DEFAULT_ORIGIN)]
        origin: String,
        /// sled page cache in MiB (bounds the store's memory).
        #[arg(long, default_value_t = 256)]
        cache_mb: u64,
        /// HTTP worker threads (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
        /// First start only: make a bare signed log (no waste rules; any event type outside
        /// the log's own is taken). Entry 0 records the choice.
        #[arg(long)]
        bare: bool,
        /// Directory with the catalogs (hw-categories.json, hw-codes.json, cw-types.json,
        /// rd-codes.json) to use instead of the built-in ones from fixtures/catalog.
        #[arg(long)]
        catalog: Option<PathBuf>,
        /// The URL phones reach this server at (e.g. https://wl.example.gov.cn): QR codes then
        /// carry `URL/m/TOKEN`, which a phone's camera opens. Without it a code holds the bare
        /// token (smaller; read with `wasteledger scan`).
        #[arg(long, value_parser = parse_public_url)]
        public_url: Option<String>,
        /// The console map's base tiles: a URL template with {z}, {x} and {y} (and {s} for
        /// subdomains a, b, c), e.g. an internal tile server or 天地图 with its key. Coordinates
        /// are drawn as the log holds them (WGS-84): use WGS-84 / CGCS2000 tiles. Without it the
        /// map draws its vector layers only and fetches nothing outside this server.
        #[arg(long, value_parser = parse_tile_url)]
        tile_url: Option<String>,
        #[command(flatten)]
        tls: TlsArgs,
        /// Serve the log's entries to anyone: the tiles' entry bundles (`/tile/entries/...`)
        /// without a signed request. Without it, on a waste log, they go to signed readers who
        /// see everything, as `/v1/log/entries`; hash tiles and checkpoints are always public.
        #[arg(long)]
        public_log: bool,
        /// A witness this log trusts: its verifier key (name+id+base64(0x04 || key)) or a file
        /// holding it. Repeatable. Their cosignatures are taken at POST /v1/log/cosignatures.
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// A tlog-witness to push each new checkpoint to (`URL/add-checkpoint`, from a
        /// background thread); the cosignatures it returns are kept if it is a --witness.
        /// Repeatable.
        #[arg(long = "push-witness")]
        push_witnesses: Vec<String>,
        /// Most events waiting in each of the two queues before the log (signature checks,
        /// then the writer); beyond them `POST /v1/events` answers 503 with Retry-After.
        #[arg(long, default_value_t = Config::default().max_queue)]
        max_queue: usize,
        /// Most live personal records one party may keep (`POST /v1/personal`); beyond it 403.
        #[arg(long, default_value_t = Config::default().max_personal_per_party)]
        personal_quota: u64,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Audit a stored log (server stopped): signatures, chain, Merkle nodes, checkpoint, and
    /// that it reaches the checkpoint it last published. Changes no byte of DIR: sled writes
    /// to any database it opens, so the audit runs on a copy made under --scratch.
    Verify {
        #[arg(long)]
        data: PathBuf,
        /// Where to copy the database for the audit (default: the system's temporary
        /// directory); it needs room for a copy of DIR/db (and, for a log of more than 262,144
        /// entries, of its read model, which the audit replays into the copy) and is removed
        /// afterwards.
        #[arg(long)]
        scratch: Option<PathBuf>,
        /// Print the result as JSON (one object) instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Audit a running log over HTTP, trusting nothing it says.
    Audit {
        /// The log's base URL: read through its JSON API.
        #[arg(long, required_unless_present = "tiles", conflicts_with = "tiles")]
        server: Option<String>,
        /// Read the log through its C2SP tiles instead: a base URL (the log's server, a static
        /// server of a mirror) or a mirror directory.
        #[arg(long, value_name = "URL|DIR")]
        tiles: Option<String>,
        /// The log's verifier key (name+id+key) or a file holding it. Without it the key the
        /// server serves is used, and checked against the one entry 0 names.
        #[arg(long)]
        log_key: Option<String>,
        /// Key file of an inspector, enforcement officer, auditor or the authority: a waste
        /// log serves its entries only to such signed readers.
        #[arg(long)]
        key: Option<PathBuf>,
        /// A witness the auditor trusts (verifier key or file). Repeatable. With --quorum, the
        /// log's cosigned checkpoint must carry that many of their cosignatures and be
        /// consistent with the audited checkpoint.
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// How many of the --witness keys must have cosigned (default: 1 if any is given).
        #[arg(long)]
        quorum: Option<usize>,
        /// Print the result as JSON (one object) instead of sentences.
        #[arg(long)]
        json: bool,
    },
    /// Keep a verified copy of a log's C2SP tiles in a directory (any static server serves
    /// it): each checkpoint checked against the last one (a fork or roll-back is refused and
    /// kept as evidence), every entry audited, every hash tile recomputed; resumes.
    Mirror(mirror::MirrorArgs),
    /// Build a log directory from a mirror (or a log's tiles): the same entries, Merkle nodes,
    /// indexes and signed checkpoint; `serve` it to carry on the log.
    Restore(mirror::RestoreArgs),
    /// Follow a log as a C2SP witness: cosign each checkpoint consistent with the last one
    /// cosigned, refuse forks and roll-backs, hand the cosignatures to the log.
    Witness(witness::WitnessArgs),
    /// Print a witness's verifier key (cosignature type 0x04) for its key file and name.
    WitnessKey(witness::WitnessKeyArgs),
    /// Sign an event (or countersign a signed one) with one or more keys and submit it.
    Submit {
        #[arg(long)]
        server: String,
        /// Key file(s) to sign with.
        #[arg(long = "key")]
        keys: Vec<PathBuf>,
        /// JSON file: an event body (with "type"), or a signed event to countersign.
        file: PathBuf,
        /// Print the result as JSON (one object) instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild every derived tree (Merkle nodes, indexes, checkpoint) from the entries alone.
    Reindex {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        log_key: Option<PathBuf>,
        /// Take a log that has no record of the checkpoint it last published (DIR/
        /// published-checkpoint; logs made before it existed): trust its entries as they are
        /// and start the record from them.
        #[arg(long)]
        adopt: bool,
        /// Print the result as JSON (one object) instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Measure append, audit and proof speed beside this machine's raw Ed25519 and SHA-256 rates.
    Bench(crate::bench::Options),
    /// Start a demo log and play a Kunshan week of hazardous and construction waste into it.
    Demo(demo::Options),
    #[command(flatten)]
    Party(party::PartyCommand),
    /// Read a photo or PNG of a manifest or container code: verify it offline with the log's
    /// key, and with --server show the live status, the holder, and whether the container
    /// belongs (--record logs the scan as an inspection)
    Scan(scan::ScanArgs),
    /// Fetch a manifest's printable page, its container labels (--labels) or its QR code (--qr)
    Print(scan::PrintArgs),
    /// Pull a case bundle (enforcement, inspectors, the authority): the pull is logged as an
    /// evidence.exported event, then the server writes one file with the checkpoint, the log
    /// key, every entry of the manifests with its tlog-proof, the registry entries of the
    /// signers' keys and a summary
    Bundle(bundle::BundleArgs),
    /// Verify a case bundle with the log's verifier key alone (no server, no database): prints
    /// every check and the summary, and fails naming exactly what does not hold
    VerifyBundle(bundle::VerifyBundleArgs),
    /// List what the anomaly detectors find (overdue loads, missing receipts, unlicensed
    /// receivers, trucks too fast or dwelling outside every site, unbalanced stations...), one
    /// line per anomaly with its reason and the log entries behind it
    Anomalies(anomalies::AnomaliesArgs),
    /// Everything about a plate, a party, a site or a driver in a time window: the manifests
    /// and the log entries that involve it (signed reader; a party sees its own manifests)
    Search(search::SearchArgs),
    /// The graph around one load: the parties, vehicles, drivers and sites it touched, and the
    /// other loads they touched, with the log entries behind each link
    Graph(search::GraphArgs),
    /// Drivers and escorts: register one once (`person register`), find one by name
    #[command(subcommand)]
    Person(person::PersonCommand),
    /// Personal data beside the log: lodge, show (roles that may read it), erase (authority)
    #[command(subcommand)]
    Personal(person::PersonalCommand),
}

impl Cli {
    /// Whether the command serves connections (then a peer that hangs up must never end the
    /// process: such writes fail as errors, the Rust default).
    pub fn serves(&self) -> bool {
        matches!(
            self.command,
            Command::Serve { .. } | Command::Demo(_) | Command::Witness(_) | Command::Bench(_)
        )
    }
}

/// A progress bar for work over the log's entries, on stderr when it is a terminal (hidden
/// otherwise, so scripts and logs get no bar).
pub(crate) fn entries_bar() -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressStyle};
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(0);
    b.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} entries {per_sec} eta {eta}")
            .expect("template"),
    );
    b
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Keygen { out, name, json } => {
            let key = keyfile::generate();
            keyfile::write(&out, &key)?;
            let verifier = NoteVerifier::new(&name, key.verifying_key())?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "file": out.display().to_string(),
                        "public_key": PublicKey(key.verifying_key()).to_string(),
                        "verifier_key": verifier.to_string(),
                    })
                );
                return Ok(());
            }
            println!("wrote {}", out.display());
            println!("public key:   {}", PublicKey(key.verifying_key()));
            println!("verifier key: {verifier}");
            Ok(())
        }
        Command::Serve {
            data,
            listen,
            log_key,
            authority_key,
            origin,
            cache_mb,
            workers,
            catalog,
            bare,
            public_url,
            tile_url,
            tls,
            public_log,
            witnesses,
            push_witnesses,
            max_queue,
            personal_quota,
            limits,
        } => {
            let tls = tls.load()?;
            let witnesses = witness::parse_witness_keys(&witnesses)?;
            let cfg = Config {
                cache_bytes: cache_mb << 20,
                max_queue,
                max_personal_per_party: personal_quota,
                ..Config::default()
            };
            let rules = domain_rules(catalog.as_deref())?;
            let ledger = open_or_create(&data, cfg, log_key, authority_key, &origin, &rules, bare)?;
            for url in push_witnesses {
                witness::spawn_pusher(
                    ledger.clone(),
                    url,
                    witnesses.clone(),
                    std::time::Duration::from_millis(500),
                );
            }
            let opts = crate::http::Options {
                workers: workers.unwrap_or_else(crate::http::default_workers),
                public_url,
                witnesses,
                limits: limits.into(),
                tls,
                public_log,
                tile_url,
                scan_hook: None,
            };
            serve_with_options(ledger, rules, &listen, opts)
        }
        Command::Verify {
            data,
            scratch,
            json,
        } => verify(&data, scratch, json),
        Command::Audit {
            server,
            tiles,
            log_key,
            key,
            witnesses,
            quorum,
            json,
        } => {
            let witnesses = witness::parse_witness_keys(&witnesses)?;
            client::audit(
                server.as_deref(),
                tiles.as_deref(),
                log_key.as_deref(),
                key.as_deref(),
                &witnesses,
                quorum,
                json,
            )
        }
        Command::Mirror(a) => mirror::mirror(a),
        Command::Restore(a) => mirror::restore(a),
        Command::Witness(a) => witness::run(a),
        Command::WitnessKey(a) => witness::print_key(a),
        Command::Submit {
            server,
            keys,
            file,
            json,
        } => client::submit(&server, &keys, &file, json),
        Command::Reindex {
            data,
            log_key,
            adopt,
            json,
        } => {
            let key = keyfile::read(&log_key.unwrap_or_else(|| data.join("keys/log.pem")))?;
            match store::reindex(&data, &key, &domain_rules(None)?, adopt)? {
                Ok(n) if json => {
                    println!("{}", serde_json::json!({"ok": true, "entries": n}));
                    Ok(())
                }
                Ok(n) => {
                    println!("reindexed {n} entries; derived trees rebuilt from the log");
                    Ok(())
                }
                Err(f) => bail!("cannot reindex: {f}"),
            }
        }
        Command::Bench(opts) => crate::bench::run(opts),
        Command::Demo(opts) => demo::run(opts),
        Command::Party(cmd) => party::run(cmd),
        Command::Scan(a) => scan::scan(a),
        Command::Print(a) => scan::print(a),
        Command::Bundle(a) => bundle::pull(a),
        Command::VerifyBundle(a) => bundle::verify(a),
        Command::Anomalies(a) => anomalies::run(a),
        Command::Search(a) => search::search(a),
        Command::Graph(a) => search::graph(a),
        Command::Person(cmd) => person::run_person(cmd),
        Command::Personal(cmd) => person::run_personal(cmd),
    }
}

fn open_or_create(
    data: &Path,
    cfg: Config,
    log_key: Option<PathBuf>,
    authority_key: Option<PathBuf>,
    origin: &str,
    rules: &DomainRules,
    bare: bool,
) -> Result<Ledger> {
    let log_key_path = log_key.unwrap_or_else(|| data.join("keys/log.pem"));
    if Ledger::exists(data) {
        let key = keyfile::read(&log_key_path)?;
        return Ok(Ledger::open(
            data,
            cfg,
            key,
            Arc::new(rules.clone()),
            Arc::new(SystemClock),
        )?);
    }
    let log = load_or_generate(&log_key_path, "log (signs checkpoints)")?;
    let authority_path = authority_key.unwrap_or_else(|| data.join("keys/authority.pem"));
    let authority = load_or_generate(
        &authority_path,
        "authority (signs genesis and the key registry)",
    )?;
    let genesis = Genesis::new(
        origin,
        log,
        &authority,
        (!bare).then_some(crate::domain::RULEBOOK),
    )?;
    let ledger = Ledger::create(
        data,
        cfg,
        genesis,
        Arc::new(rules.clone()),
        Arc::new(SystemClock),
    )?;
    eprintln!("created a new log {origin:?} in {}", data.display());
    eprintln!(
        "authority public key: {}",
        PublicKey(authority.verifying_key())
    );
    Ok(ledger)
}

fn load_or_generate(path: &Path, what: &str) -> Result<ed25519_dalek::SigningKey> {
    if path.exists() {
        return keyfile::read(path);
    }
    let key = keyfile::generate();
    keyfile::write(path, &key)?;
    eprintln!(
        "generated the {what} key in {} (keep it safe; demo use only if left there)",
        path.display()
    );
    Ok(key)
}

/// The domain's rules with the catalogs from `dir`, or the built-in ones.
pub fn domain_rules(dir: Option<&Path>) -> Result<DomainRules> {
    let catalog = match dir {
        None => Catalog::builtin(),
        Some(d) => {
            let read = |f: &str| {
                std::fs::read_to_string(d.join(f)).with_context(|| {
                    format!("cannot read the catalog file {}", d.join(f).display())
                })
            };
            let [a, b, c, e] = CATALOG_FILES;
            Catalog::from_json(&read(a)?, &read(b)?, &read(c)?, &read(e)?)
                .with_context(|| format!("catalogs in {}", d.display()))?
        }
    };
    Ok(DomainRules::new(catalog, Limits::default()))
}

/// What one client may hold of the server (`serve` flags; README "Limits").
#[derive(clap::Args)]
struct LimitArgs {
    /// Time a connection has to send its first request's head (then 408, closed).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    header_timeout: Duration,
    /// Time a request has to send its body once its head arrived (then a 408 problem, and
    /// the connection is closed).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    body_timeout: Duration,
    /// Idle time a connection is kept open between requests.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    keep_alive: Duration,
    /// Time a closing connection is given to shut down.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    disconnect_timeout: Duration,
    /// Longest a request may hold its connection, from its head to the end of its answer (a
    /// client that stops reading); a kept-alive connection's next head must also arrive within
    /// keep-alive + header timeout of the last answer. Past either, the connection is closed.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    request_timeout: Duration,
    /// Connections served at once, over all workers; more wait in the listen backlog.
    #[arg(long, default_value_t = crate::http::Limits::default().max_connections)]
    max_connections: usize,
    /// Connections the operating system queues before the server accepts them.
    #[arg(long, default_value_t = crate::http::Limits::default().backlog)]
    backlog: u32,
}

impl From<LimitArgs> for crate::http::Limits {
    fn from(a: LimitArgs) -> Self {
        crate::http::Limits {
            header_timeout: a.header_timeout,
            body_timeout: a.body_timeout,
            keep_alive: a.keep_alive,
            disconnect_timeout: a.disconnect_timeout,
            request_timeout: a.request_timeout,
            max_connections: a.max_connections.max(1),
            backlog: a.backlog,
        }
    }
}

/// The soft limit on open files, where the system tells it (Linux).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// HTTPS for `serve` and `demo`: both flags or neither.
#[derive(clap::Args, Clone, Debug, Default)]
pub(crate) struct TlsArgs {
    /// Serve HTTPS with this certificate (PEM: the server's certificate, then any chain);
    /// with --tls-key. Phones need HTTPS for the camera and WebCrypto (README "On a phone").
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY);
    /// with --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The certificate and key read and checked (before anything is written), if given.
    pub(crate) fn load(&self) -> Result<Option<crate::http::Tls>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(crate::http::Tls::from_pem_files(cert, key)?)),
            (None, None) => Ok(None),
            (Some(_), None) => bail!("--tls-cert needs --tls-key (the certificate's private key)"),
            (None, Some(_)) => bail!("--tls-key needs --tls-cert (the certificate it belongs to)"),
        }
    }
}

/// `--tile-url`: `http://` or `https://` and a template naming `{z}`, `{x}` and `{y}`; no
/// spaces, quotes or angle brackets (it is written into the map page's attribute).
pub(crate) fn parse_tile_url(s: &str) -> std::result::Result<String, String> {
    let expected = "expected an http:// or https:// URL template with {z}, {x} and {y}, e.g. https://tiles.example.gov.cn/{z}/{x}/{y}.png";
    if !(s.starts_with("https://") || s.starts_with("http://")) {
        return Err(format!("{expected}; got {s:?} (no http:// or https://)"));
    }
    if let Some(missing) = ["{z}", "{x}", "{y}"].into_iter().find(|p| !s.contains(p)) {
        return Err(format!("{expected}; got {s:?} (no {missing})"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "\"'<>`\\".contains(*c))
    {
        return Err(format!("{expected}; got {s:?} (a {c:?} is not taken)"));
    }
    Ok(s.to_string())
}

/// `--public-url`: `http://` or `https://`, a host (and port), and at most a plain path prefix
/// (no query, fragment, user or spaces); returned without a trailing `/`.
pub(crate) fn parse_public_url(s: &str) -> std::result::Result<String, String> {
    let expected = "expected http://HOST[:PORT] or https://HOST[:PORT], optionally with a path prefix, e.g. https://192.168.1.20:8443";
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| format!("{expected}; got {s:?} (no http:// or https://)"))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let bad = |why: &str| format!("{expected}; got {s:?} ({why})");
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if host.contains('@') {
        return Err(bad("a user name is not taken"));
    }
    let host_ok = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
    if !host_ok {
        return Err(bad(
            "the host may hold letters, digits, '-', '.', ':' and [ ] only",
        ));
    }
    if let Some((name, port)) = host.rsplit_once(':').filter(|_| !host.ends_with(']')) {
        if name.is_empty() || port.parse::<u16>().is_err() {
            return Err(bad("the port must be a number up to 65535"));
        }
    }
    if let Some(c) = path
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._~/".contains(*c)))
    {
        return Err(bad(&format!(
            "the path may not hold {c:?}: QR codes append /m/TOKEN to it"
        )));
    }
    Ok(format!(
        "{}{}",
        &s[..s.len() - rest.len()],
        rest.trim_end_matches('/')
    ))
}

/// Serve `ledger` on `listen` (HTTPS with `opts.tls`) until stopped.
pub(crate) fn serve_with_options(
    ledger: Ledger,
    rules: DomainRules,
    listen: &str,
    opts: crate::http::Options,
) -> Result<()> {
    if let Some(files) = open_files_limit() {
        // Each connection takes two descriptors (its socket, and the watch's duplicate).
        if opts.limits.max_connections as u64 > files / 4 {
            eprintln!(
                "warning: --max-connections {} is more than a quarter of this process's open-files limit ({files}; a connection takes two): connections could take the descriptors the store needs; lower it or raise the limit (ulimit -n)",
                opts.limits.max_connections
            );
        }
    }
    let listener = crate::http::bind(listen, opts.limits.backlog)
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let head = ledger.head();
    // Tests and scripts read this line to find the port.
    let scheme = if opts.tls.is_some() { "https" } else { "http" };
    println!("listening on {scheme}://{addr}");
    eprintln!(
        "log {} holds {} entries; verifier key {}",
        ledger.verifier().name,
        head.size,
        ledger.verifier()
    );
    actix_web::rt::System::new().block_on(async {
        crate::http::server_with_options(ledger.clone(), Some(rules), listener, opts)?.await
    })?;
    ledger.shutdown();
    Ok(())
}

fn verify(data: &Path, scratch: Option<PathBuf>, json: bool) -> Result<()> {
    let bar = entries_bar();
    let scratch = scratch.unwrap_or_else(std::env::temp_dir);
    eprintln!(
        "auditing a copy of {} made in {} (sled writes to any database it opens; {} is left as it is)",
        data.join("db").display(),
        scratch.display(),
        data.display()
    );
    let started = std::time::Instant::now();
    let res = store::verify(data, &scratch, &domain_rules(None)?, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    if json {
        let out = match &res {
            Ok(s) => serde_json::json!({
                "ok": true, "size": s.size, "signatures": s.signatures,
                "root": hex::encode(s.root), "checkpoint": s.checkpoint,
                "read_model_not_compared": s.read_model_not_compared,
            }),
            Err(f) => serde_json::json!({"ok": false, "index": f.index, "cause": f.cause}),
        };
        println!("{out}");
    }
    match res {
        Ok(_) if json => Ok(()),
        Ok(s) => {
            let secs = started.elapsed().as_secs_f64();
            println!(
                "ok: {} entries, {} signatures, chain and Merkle nodes intact, checkpoint root {} signed by the log key ({:.1}s, {:.0} entries/s)",
                s.size,
                s.signatures,
                hex::encode(s.root),
                secs,
                s.size as f64 / secs.max(1e-9)
            );
            if let Some(why) = &s.read_model_not_compared {
                println!("the domain's read model was not compared with a replay: {why}");
            }
            Ok(())
        }
        Err(f) => bail!("verify failed at {f}"),
    }
}

/// A time flag as people type it (a date, a local time in China Standard Time, RFC 3339 with
/// any offset: [`Timestamp::parse_human`]); `--to` takes a date as the end of that day. The
/// error names the flag and lists the forms.
pub(crate) fn time_flag(name: &str, s: &str) -> Result<Timestamp> {
    Timestamp::parse_human(s, DateAs::for_bound(name)).map_err(|e| anyhow::anyhow!("--{name}: {e}"))
}

/// A time from the log's JSON (RFC 3339 UTC) as people read it, in China Standard Time.
pub(crate) fn cst_json(v: &serde_json::Value) -> String {
    v.as_str().map(cst_text).unwrap_or_else(|| "-".into())
}
