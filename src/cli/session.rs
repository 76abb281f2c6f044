//! Talking to the log from the command line: the `--server`/`--key` arguments ([`Conn`]), a
//! [`Session`] that signs and submits events and reads what the log answers, and the checks
//! made before anything is signed or sent.

use crate::client::{encode, Answer, LogClient};
use crate::domain::codes::{ManifestNumber, Uscc};
use crate::domain::events::DomainEvent;
use crate::keyfile;
use crate::ledger::canonical::to_canonical;
use crate::ledger::event::{PublicKey, SignedEvent};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use ed25519_dalek::SigningKey;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The log to talk to and the key to sign with.
#[derive(Args)]
pub struct Conn {
    /// The log's address, e.g. http://127.0.0.1:8080
    #[arg(long, value_name = "URL")]
    pub(super) server: String,
    /// Your key file (PKCS#8 PEM, made with `wasteledger keygen` and registered by the authority)
    #[arg(long, value_name = "FILE")]
    pub(super) key: PathBuf,
    /// Print the log's answers as JSON on standard output (one line per event logged or kept
    /// pending, with the flags the step raised; the sentences go to standard error)
    #[arg(long)]
    pub(super) json: bool,
}

/// [`Conn`] for a command that also runs without a log (`--template`): required otherwise.
#[derive(Args)]
pub struct MaybeConn {
    /// The log's address, e.g. http://127.0.0.1:8080
    #[arg(long, value_name = "URL")]
    pub(super) server: Option<String>,
    /// Your key file (PKCS#8 PEM, made with `wasteledger keygen` and registered by the authority)
    #[arg(long, value_name = "FILE")]
    pub(super) key: Option<PathBuf>,
    /// Print the log's answers as JSON (one line per event)
    #[arg(long)]
    pub(super) json: bool,
}

impl MaybeConn {
    /// The connection, or the usage error clap would give (exit code 2).
    pub(super) fn require(self) -> Conn {
        use clap::CommandFactory;
        match (self.server, self.key) {
            (Some(server), Some(key)) => Conn {
                server,
                key,
                json: self.json,
            },
            (server, _) => super::Cli::command()
                .error(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    format!(
                        "the following required argument was not provided: {}",
                        if server.is_none() {
                            "--server <URL>"
                        } else {
                            "--key <FILE>"
                        }
                    ),
                )
                .exit(),
        }
    }
}

pub(super) struct Session {
    pub(super) c: LogClient,
    pub(super) server: String,
    pub(super) key: SigningKey,
    /// Our public key as the log writes it (base64).
    pub(super) pk: String,
    /// `--json`: each logged or pending event's answer as one JSON line on standard output
    /// (with the flags the step raised); the sentences go to standard error.
    pub(super) json: bool,
}

/// What `POST /v1/events` answered: in the log, or waiting for the other party.
pub(super) enum Submitted {
    Logged(Value),
    Pending(Value),
}

impl Session {
    pub(super) fn open(conn: &Conn) -> Result<Session> {
        Ok(Self::new(&conn.server, &conn.key)?.json(conn.json))
    }

    pub(super) fn new(server: &str, key: &Path) -> Result<Session> {
        let key = keyfile::read(key)?;
        Ok(Session {
            c: LogClient::new(server),
            server: server.trim_end_matches('/').to_string(),
            pk: PublicKey(key.verifying_key()).to_string(),
            key,
            json: false,
        })
    }

    /// The same session, answering in JSON (`--json`) or not.
    pub(super) fn json(mut self, on: bool) -> Self {
        self.json = on;
        self
    }

    /// A sentence for the person: standard output, or standard error under `--json` (where
    /// standard output holds only JSON).
    pub(super) fn say(&self, line: std::fmt::Arguments) {
        if self.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    pub(super) fn unreachable(&self) -> String {
        format!(
            "cannot reach the log at {} (is the server running, and the URL right?)",
            self.server
        )
    }

    pub(super) fn get(&self, path: &str) -> Result<Answer> {
        self.c.get(path).with_context(|| self.unreachable())
    }

    pub(super) fn get_signed(&self, path: &str) -> Result<Answer> {
        self.c
            .get_signed(path, &self.key)
            .with_context(|| self.unreachable())
    }

    /// The manifest as we may see it; a party to it (or an inspector) sees the full view.
    pub(super) fn manifest(&self, number: &ManifestNumber) -> Result<Value> {
        let a = self.get_signed(&format!("/v1/manifests/{number}"))?;
        match a.status {
            200 => {}
            404 => bail!("manifest {number} does not exist on this log: check the number"),
            _ => bail!("the log did not show manifest {number}: {}", problem(&a)),
        }
        let m = a.json()?;
        if m["view"] != "full" {
            bail!(
                "you are not a party to manifest {number}: the log shows your key ({}) only its public view (status {}). Use a key of a party to it (issuer, planned hauler, holder, destination), or ask the authority to register this key",
                self.pk,
                m["status"].as_str().unwrap_or("?")
            );
        }
        Ok(m)
    }

    /// The party our key belongs to (`GET /v1/keys/{key}`): it must be a party key.
    pub(super) fn own_holder(&self) -> Result<String> {
        let a = self.get(&format!("/v1/keys/{}", encode(&self.pk)))?;
        if a.status == 404 {
            bail!("--key: your key {} is not registered on this log: the authority adds it to your party with a key.added event", self.pk);
        }
        if a.status != 200 {
            bail!("the log did not show your key {}: {}", self.pk, problem(&a));
        }
        let k = a.json()?;
        match (k["kind"].as_str(), k["holder"].as_str()) {
            (Some("party"), Some(h)) => Ok(h.to_string()),
            (Some("authority"), _) => bail!("--key is the authority's: say which party the device key is for with --holder USCC"),
            (kind, _) => bail!(
                "--key: your key {} is a {} key; only a party key (one the authority added) delegates",
                self.pk,
                kind.unwrap_or("?")
            ),
        }
    }

    /// A registered party (`party`, `licences`, `vehicles`, `sites`), or None if unknown.
    pub(super) fn party(&self, id: &str) -> Result<Option<Value>> {
        let a = self.get(&format!("/v1/parties/{}", encode(id)))?;
        match a.status {
            200 => Ok(Some(a.json()?)),
            404 => Ok(None),
            _ => bail!("the log did not show party {id}: {}", problem(&a)),
        }
    }

    /// Whether a public key (base64) signs for the party: one of its keys the authority added,
    /// or a device key it delegated (`GET /v1/keys/{key}`, whatever the key's status: the log
    /// itself refuses a revoked or expired key, and says so).
    pub(super) fn party_has_key(&self, id: &str, pk: &str) -> Result<bool> {
        let a = self.get(&format!("/v1/keys/{}", encode(pk)))?;
        match a.status {
            404 => Ok(false),
            200 => {
                let k = a.json()?;
                Ok(matches!(k["kind"].as_str(), Some("party" | "device"))
                    && k["holder"].as_str() == Some(id))
            }
            _ => bail!("the log did not show key {pk}: {}", problem(&a)),
        }
    }

    /// Which of `candidates` our key belongs to.
    pub(super) fn which_is_me<'a>(
        &self,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Result<Option<String>> {
        for c in candidates {
            if self.party_has_key(c, &self.pk)? {
                return Ok(Some(c.to_string()));
            }
        }
        Ok(None)
    }

    /// "9132… (Name)" when the log knows the party's name.
    pub(super) fn named(&self, id: &str) -> String {
        match self.party(id) {
            Ok(Some(p)) => match p["party"]["name"].as_str() {
                Some(n) => format!("{id} ({n})"),
                None => id.to_string(),
            },
            _ => id.to_string(),
        }
    }

    pub(super) fn submit(&self, ev: &SignedEvent, what: &str) -> Result<Submitted> {
        let a = self
            .c
            .post("/v1/events", &ev.to_bytes())
            .with_context(|| self.unreachable())?;
        match a.status {
            201 => {
                let mut receipt = a.json()?;
                if self.json {
                    // The manifest the step is on (or the one it created).
                    let number = ev
                        .event()
                        .get("manifest")
                        .and_then(Value::as_str)
                        .or_else(|| receipt["manifests"][0].as_str())
                        .and_then(|n| ManifestNumber::parse(n).ok());
                    let flags = match number {
                        Some(n) => self.flags_raised(&n, &receipt),
                        None => Vec::new(),
                    };
                    receipt["flags"] = Value::Array(flags);
                    println!("{receipt}");
                }
                Ok(Submitted::Logged(receipt))
            }
            202 => {
                let pending = a.json()?;
                if self.json {
                    println!("{pending}");
                }
                Ok(Submitted::Pending(pending))
            }
            _ => bail!(
                "the log refused {what}: {}",
                problem_with_hint(&a, &self.pk)
            ),
        }
    }

    /// Sign a body with our key and submit it; it must go into the log.
    pub(super) fn sign_and_submit(&self, body: Value, what: &str) -> Result<Value> {
        let ev = sign(body, &self.key)?;
        match self.submit(&ev, what)? {
            Submitted::Logged(a) => Ok(a),
            Submitted::Pending(p) => bail!(
                "the log keeps {what} as pending, waiting for {}",
                p["waiting_for"]
            ),
        }
    }

    /// Say what the step logged at `receipt`'s index raised on the manifest (a quantity gap, a
    /// receiver not licensed...): the log accepts such steps and flags them, and the person who
    /// took the step should know at once, not at the next audit.
    pub(super) fn report_flags(&self, number: &ManifestNumber, receipt: &Value) {
        if self.json {
            return; // in the JSON answer already
        }
        for f in self.flags_raised(number, receipt) {
            println!(
                "  ⚑ flagged {}: {}",
                f["kind"].as_str().unwrap_or("?"),
                f["detail"].as_str().unwrap_or_default()
            );
        }
    }

    /// The manifest's flags whose entry is the one `receipt` names.
    pub(super) fn flags_raised(&self, number: &ManifestNumber, receipt: &Value) -> Vec<Value> {
        let (Some(index), Ok(m)) = (receipt["index"].as_u64(), self.manifest(number)) else {
            return Vec::new();
        };
        m["flags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["index"].as_u64() == Some(index))
            .cloned()
            .collect()
    }
}

/// The log's RFC 9457 problem in one line: title (status): detail [field].
pub(super) fn problem(a: &Answer) -> String {
    a.problem()
}

/// The problem, and what a person can do about the common ones.
pub(super) fn problem_with_hint(a: &Answer, pk: &str) -> String {
    let mut s = problem(a);
    let kind = a
        .json()
        .ok()
        .and_then(|p| p["type"].as_str().map(str::to_string))
        .unwrap_or_default();
    let hint = match kind.rsplit(':').next().unwrap_or_default() {
        "unknown-key" => format!(
            "your key {pk} is not registered: the authority adds it to your party with a key.added event"
        ),
        "revoked-key" => "this key was revoked: sign with a current key of your party".into(),
        "expired-key" => "this device key's delegation ran out (not_after): ask your party to delegate a new one with `wasteledger delegate`".into(),
        "not-authority" => "registry events are signed with the authority's key (a party key revokes only device keys it delegated: `wasteledger revoke-device`)".into(),
        "wrong-signer" => format!(
            "check --key: the key {pk} must belong to the party this step needs"
        ),
        "replay" => "this exact event is in the log already: nothing to do".into(),
        _ => String::new(),
    };
    if !hint.is_empty() {
        s.push_str(&format!("\n  → {hint}"));
    }
    s
}

pub(super) fn sign(body: Value, key: &SigningKey) -> Result<SignedEvent> {
    SignedEvent::sign(body, &[key]).map_err(|e| anyhow!("cannot sign the event: {e}"))
}

/// Check a body as the log will (field by field), before anything is signed or sent.
pub(super) fn check_body(event_type: &str, body: &Value, source: &str) -> Result<()> {
    if !DomainEvent::TYPES.contains(&event_type) {
        return Ok(());
    }
    DomainEvent::parse(event_type, &to_canonical(body))
        .map(|_| ())
        .map_err(|e| anyhow!("{source}: {e} (nothing was sent to the log)"))
}

/// A USCC given on the command line.
pub(super) fn uscc_arg(flag: &str, s: &str) -> Result<Uscc> {
    Uscc::parse(&s.trim().to_ascii_uppercase()).map_err(|e| anyhow!("--{flag}: {e}"))
}
