//! A client of the log API (blocking, plain HTTP): what parties, auditors and the tests use.
//! The remote audit trusts nothing the server says: it re-checks every entry it is served and
//! compares the tree head it computes with the server's signed checkpoint.

use crate::ledger::audit::{AuditFailure, Auditor};
use crate::ledger::merkle::Hash;
use crate::ledger::note::{Checkpoint, NoteVerifier};
use crate::ledger::state::Rules;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::time::Duration;

pub struct LogClient {
    base: String,
    agent: ureq::Agent,
    /// When set, every GET is signed with it (a waste log serves its entries to signed
    /// readers who may see everything).
    reader: Option<ed25519_dalek::SigningKey>,
}

/// A server's answer: status and body (problem details on errors are bodies too).
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    /// The log's RFC 9457 problem as a sentence: title (status): detail [field F]. An answer
    /// that is not a problem is shown as its status and body.
    pub fn problem(&self) -> String {
        match self.json() {
            Ok(p) if p.get("detail").is_some() => {
                let mut s = format!(
                    "{} ({}): {}",
                    p["title"].as_str().unwrap_or("refused"),
                    self.status,
                    p["detail"].as_str().unwrap_or_default()
                );
                if let Some(f) = p["field"].as_str() {
                    s.push_str(&format!(" [field {f}]"));
                }
                s
            }
            _ => format!("{} {}", self.status, self.body.trim()),
        }
    }

    /// Status and body of a response (bodies up to 64 MiB: entry ranges are large).
    fn read(mut resp: ureq::http::Response<ureq::Body>) -> Result<Answer> {
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()?;
        Ok(Answer { status, body })
    }

    pub fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.body)
            .with_context(|| format!("answer is not JSON: {}", self.body))
    }
}

impl LogClient {
    pub fn new(base: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        LogClient {
            base: base.trim_end_matches('/').to_string(),
            agent,
            reader: None,
        }
    }

    /// The base URL this client talks to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sign every GET with `key`.
    pub fn reading_as(mut self, key: ed25519_dalek::SigningKey) -> Self {
        self.reader = Some(key);
        self
    }

    pub fn get(&self, path: &str) -> Result<Answer> {
        if let Some(key) = &self.reader {
            return self.signed("GET", path, b"", key);
        }
        let url = format!("{}{path}", self.base);
        let resp = self
            .agent
            .get(&url)
            .call()
            .with_context(|| format!("GET {url}"))?;
        Answer::read(resp)
    }

    /// GET signed with a party's key (`Authorization: WL-Ed25519 ...`): reads that need to know
    /// who asks. `path` is sent as given: percent-encode non-ASCII with [`encode`].
    pub fn get_signed(&self, path: &str, key: &ed25519_dalek::SigningKey) -> Result<Answer> {
        self.signed("GET", path, b"", key)
    }

    /// A request signed with a party's key; the signature covers method, path, time and body.
    pub fn signed(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        key: &ed25519_dalek::SigningKey,
    ) -> Result<Answer> {
        let url = format!("{}{path}", self.base);
        let now = crate::ledger::time::Timestamp::from_system_time(std::time::SystemTime::now());
        let auth = crate::http::auth::header(key, method, path, now, body);
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(body.to_vec())?;
        let resp = self
            .agent
            .run(req)
            .with_context(|| format!("{method} {url}"))?;
        Answer::read(resp)
    }

    /// A signed GET whose answer may be binary (a PNG): status and bytes.
    pub fn get_bytes_signed(
        &self,
        path: &str,
        key: &ed25519_dalek::SigningKey,
    ) -> Result<(u16, Vec<u8>)> {
        self.get_bytes_as(path, Some(key))
    }

    /// A GET whose answer may be binary, signed as this client's reader when `signed` (a tile
    /// client signs only what is not public: entry bundles).
    pub fn get_bytes(&self, path: &str, signed: bool) -> Result<(u16, Vec<u8>)> {
        self.get_bytes_as(path, self.reader.as_ref().filter(|_| signed))
    }

    fn get_bytes_as(
        &self,
        path: &str,
        key: Option<&ed25519_dalek::SigningKey>,
    ) -> Result<(u16, Vec<u8>)> {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.get(&url);
        if let Some(key) = key {
            let now =
                crate::ledger::time::Timestamp::from_system_time(std::time::SystemTime::now());
            req = req.header(
                "authorization",
                crate::http::auth::header(key, "GET", path, now, b""),
            );
        }
        let mut resp = req.call().with_context(|| format!("GET {url}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()?;
        Ok((status, body))
    }

    /// GET that must succeed; an error names the server's problem detail.
    pub fn get_ok(&self, path: &str) -> Result<String> {
        let a = self.get(path)?;
        if a.status != 200 {
            bail!("GET {path}: {} {}", a.status, a.body);
        }
        Ok(a.body)
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Result<Answer> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .send(body)
            .with_context(|| format!("POST {url}"))?;
        Answer::read(resp)
    }

    pub fn verifier(&self) -> Result<NoteVerifier> {
        Ok(NoteVerifier::parse(self.get_ok("/v1/log/key")?.trim())?)
    }

    /// The server's checkpoint, verified with `verifier`.
    pub fn checkpoint(&self, verifier: &NoteVerifier) -> Result<(Checkpoint, String)> {
        let note = self.get_ok("/v1/log/checkpoint")?;
        let cp = Checkpoint::open(&note, verifier)
            .map_err(|e| anyhow!("the server's checkpoint: {e}"))?;
        Ok((cp, note))
    }
}

/// Percent-encode a path segment or query value (RFC 3986 unreserved characters stay).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where a remote audit reads a log from: the JSON API ([`LogClient`]) or the log's C2SP tiles
/// (`mirror::TileSource`, a server's or a mirror's). Nothing it serves is trusted.
pub trait LogSource {
    /// The signed checkpoint note, as served.
    fn checkpoint_note(&self) -> Result<String>;
    /// The next entries from `start` (at least one, none at or past `end`) of the tree of
    /// `size`; an `AuditFailure` when what is served is malformed.
    fn entries(
        &self,
        start: u64,
        end: u64,
        size: u64,
    ) -> Result<Result<Vec<Vec<u8>>, AuditFailure>>;
    /// The log key the source serves beside the log, if it serves one.
    fn served_key(&self) -> Result<Option<NoteVerifier>> {
        Ok(None)
    }
}

impl LogSource for LogClient {
    fn checkpoint_note(&self) -> Result<String> {
        self.get_ok("/v1/log/checkpoint")
    }

    fn served_key(&self) -> Result<Option<NoteVerifier>> {
        self.verifier().map(Some)
    }

    fn entries(
        &self,
        start: u64,
        end: u64,
        _size: u64,
    ) -> Result<Result<Vec<Vec<u8>>, AuditFailure>> {
        let end = (start + crate::http::MAX_RANGE).min(end);
        let body = self.get_ok(&format!("/v1/log/entries?start={start}&end={end}"))?;
        // Each entry ends with a newline; an answer may stop early at its byte bound (the
        // next request continues after the last line), but never mid-entry.
        let complete = body.rfind('\n').map_or("", |n| &body[..=n]);
        let lines: Vec<Vec<u8>> = complete.lines().map(|l| l.as_bytes().to_vec()).collect();
        if lines.is_empty() || lines.len() as u64 > end - start || complete.len() != body.len() {
            return Ok(Err(AuditFailure {
                index: start + lines.len() as u64,
                cause: format!(
                    "the server served {} whole entries for [{start}, {end}) (none, too many, or a last line cut short)",
                    lines.len()
                ),
            }));
        }
        Ok(Ok(lines))
    }
}

/// What a clean remote audit established.
pub struct RemoteAudit {
    pub size: u64,
    pub root: Hash,
    /// The key the checkpoint was verified with (the pinned one, or entry 0's).
    pub verifier: NoteVerifier,
}

/// Fetch every entry up to the source's current checkpoint and audit them; the computed tree
/// head must be the checkpoint's. With no `verifier`, the key the source serves is used (the
/// JSON API serves one), else the one entry 0 names (trust on first use), and either must be
/// the one entry 0 names.
pub fn audit_remote(
    source: &dyn LogSource,
    verifier: Option<NoteVerifier>,
    rules: &dyn Rules,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Result<RemoteAudit, AuditFailure>> {
    let verifier = match verifier {
        Some(v) => Some(v),
        None => source.served_key()?,
    };
    let note = source.checkpoint_note()?;
    let cp = match &verifier {
        Some(v) => Checkpoint::open(&note, v),
        None => crate::ledger::note::split_note(&note).and_then(|(b, _)| Checkpoint::parse_body(b)),
    }
    .map_err(|e| anyhow!("the served checkpoint: {e}"))?;
    let mut fold = rules.fresh();
    let mut auditor = Auditor::new(fold.as_mut());
    let mut start = 0u64;
    while start < cp.size {
        let run = match source.entries(start, cp.size, cp.size)? {
            Ok(run) => run,
            Err(f) => return Ok(Err(f)),
        };
        let lines: Vec<(u64, &[u8])> = run
            .iter()
            .enumerate()
            .map(|(i, l)| (start + i as u64, l.as_slice()))
            .collect();
        if let Err(f) = auditor.check(&lines, |_, _| Ok(())) {
            return Ok(Err(f));
        }
        start += lines.len() as u64;
        progress(start, cp.size);
    }
    let fail = |cause: String| {
        Ok(Err(AuditFailure {
            index: cp.size,
            cause,
        }))
    };
    if cp.size == 0 {
        return fail("the log is empty: no genesis entry".into());
    }
    let named = match (auditor.state().log_key, &verifier) {
        (Some(k), None) => NoteVerifier::new(&auditor.state().origin, k.0)
            .map_err(|e| anyhow!("the log key entry 0 names: {e}"))?,
        (_, Some(v)) => v.clone(),
        (None, None) => return fail("entry 0 names no log key".into()),
    };
    if auditor.state().log_key.map(|k| k.0) != Some(named.key)
        || auditor.state().origin != named.name
    {
        return fail("checkpoint: the log key is not the one entry 0 names".into());
    }
    if let Err(e) = Checkpoint::open(&note, &named) {
        return fail(format!(
            "checkpoint: not signed by the key entry 0 names: {e}"
        ));
    }
    if auditor.root() != cp.root {
        return fail("checkpoint: its root hash is not the root of the entries served".into());
    }
    Ok(Ok(RemoteAudit {
        size: cp.size,
        root: cp.root,
        verifier: named,
    }))
}

/// Fetch the log's cosigned checkpoint and check that at least `k` of `witnesses` cosigned it
/// (naming the missing ones otherwise), and that it is consistent with the checkpoint of
/// `size` and `root` (an audited one): same root at the same size, or a consistency proof the
/// server serves between the two that verifies.
pub fn check_cosigned(
    client: &LogClient,
    log: &NoteVerifier,
    witnesses: &[crate::ledger::cosignature::WitnessKey],
    k: usize,
    size: u64,
    root: &Hash,
) -> Result<crate::ledger::cosignature::Cosigned> {
    use crate::ledger::cosignature::open_cosigned;
    use crate::ledger::merkle::verify_consistency;
    let a = client.get(&format!("/v1/log/checkpoint/cosigned?quorum={k}"))?;
    let note = if a.status == 200 {
        a.body
    } else {
        // Fewer than k of the log's own trusted witnesses: take the newest with any, to name
        // which of ours are missing.
        let any = client.get("/v1/log/checkpoint/cosigned")?;
        if any.status != 200 {
            bail!(
                "the log serves no cosigned checkpoint (need {k} of {}: {}): {}",
                witnesses.len(),
                witnesses
                    .iter()
                    .map(|w| w.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                a.body
            );
        }
        any.body
    };
    let cosigned = open_cosigned(&note, log, witnesses, k)
        .map_err(|e| anyhow!("the log's cosigned checkpoint: {e}"))?;
    let c = &cosigned.checkpoint;
    if c.size == size {
        if c.root != *root {
            bail!(
                "fork: the cosigned checkpoint at size {size} has another root than the audited one"
            );
        }
        return Ok(cosigned);
    }
    let ((from, from_root), (to, to_root)) = if c.size < size {
        ((c.size, c.root), (size, *root))
    } else {
        ((size, *root), (c.size, c.root))
    };
    let p = client.get(&format!("/v1/log/proof/consistency?from={from}&to={to}"))?;
    if p.status != 200 {
        bail!(
            "the log serves no consistency proof from {from} to {to}: {} {}",
            p.status,
            p.body
        );
    }
    let hashes: Vec<Hash> = p.json()?["hashes"]
        .as_array()
        .ok_or_else(|| anyhow!("consistency proof: no `hashes`"))?
        .iter()
        .map(|h| {
            use base64::Engine;
            h.as_str()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| anyhow!("consistency proof: a hash is not base64 of 32 bytes"))
        })
        .collect::<Result<_>>()?;
    verify_consistency(from, to, &hashes, &from_root, &to_root).map_err(|e| {
        anyhow!("the cosigned checkpoint (size {}) and the audited one (size {size}) are not consistent: {e}", c.size)
    })?;
    Ok(cosigned)
}
