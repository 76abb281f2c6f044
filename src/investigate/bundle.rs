//! Case bundles: one file that carries everything a court needs to check a set of manifests
//! with no server and no database, only the log's verifier key. The format is a contract,
//! written up in `fixtures/bundle/FORMAT.md`:
//!
//! ```json
//! {"format": "wasteledger-bundle/v1",
//!  "log_key": "<note verifier key of the log>",
//!  "checkpoint": "<the checkpoint note, verbatim, with any cosignature lines>",
//!  "export": {"index", "time", "by", "case", "reason", "manifests", "query"?, "at"},
//!  "manifests": [{"number", "created_by", "entries": [index...]}],
//!  "entries": [{"index", "why": [...], "entry": "<base64 of the exact bytes>",
//!               "proof": "<C2SP tlog-proof text>"}],
//!  "summary": "<Markdown, for people; not evidence>"}
//! ```
//!
//! Pure: [`Plan::from_domain`] decides what goes in from the domain's state, [`Plan::assemble`]
//! takes the entries' bytes and proofs from a closure (the store supplies them), [`verify`]
//! checks a bundle from its bytes and names every failure.

use crate::domain::codes::{ManifestNumber, Uscc};
use crate::domain::events::Stream;
use crate::domain::model::{line_label, KeyEntries, Manifest};
use crate::domain::query::DomainQuery;
use crate::ledger::entry::Entry;
use crate::ledger::event::PublicKey;
use crate::ledger::merkle::{leaf_hash, Hash};
use crate::ledger::note::{Checkpoint, NoteVerifier};
use crate::ledger::state::{delegation, key_addition, revocation};
use crate::ledger::time::Timestamp;
use crate::ledger::tlog_proof::{describe_note_error, TlogProof};
use crate::web::quantity;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::ops::ControlFlow;

/// The format name and version, the bundle's first field.
pub const FORMAT: &str = "wasteledger-bundle/v1";

/// What the bundle says about the export (a copy of the `evidence.exported` entry's event, and
/// where it is in the log); the verifier checks it against that entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportHeader {
    /// The log index of the `evidence.exported` entry (itself in the bundle).
    pub index: u64,
    /// When the log recorded the export.
    pub time: Timestamp,
    pub by: Uscc,
    pub case: String,
    pub reason: String,
    pub manifests: Vec<ManifestNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    pub at: Timestamp,
}

/// The entries of one selected manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntries {
    pub number: ManifestNumber,
    /// The entry that made the manifest (issue, consolidation, split, or the receipt that sent a
    /// rejected part back): its number was allocated by the log, so that event does not name it.
    pub created_by: u64,
    /// Every entry touching it, in log order (the creating entry included); each other one
    /// names the manifest in its event.
    pub entries: Vec<u64>,
}

/// One entry: its exact bytes and its tlog-proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleEntry {
    pub index: u64,
    /// Why it is in the bundle ("manifest 2026…", "registry: key.added of …", "export").
    pub why: Vec<String>,
    /// Base64 of the entry's exact bytes, as the log hashed them.
    pub entry: String,
    /// C2SP tlog-proof@v1 for this entry under the bundle's checkpoint.
    pub proof: String,
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub format: String,
    /// The log's note verifier key (`name+id+base64`).
    pub log_key: String,
    /// The checkpoint note, verbatim: the log's signature and any witnesses' cosignatures.
    pub checkpoint: String,
    pub export: ExportHeader,
    pub manifests: Vec<ManifestEntries>,
    pub entries: Vec<BundleEntry>,
    /// A readable account (Markdown), written by the server from its state: a reading aid, not
    /// evidence; every fact in it can be checked against the entries.
    pub summary: String,
}

impl Bundle {
    /// The file's bytes (pretty JSON, fields in this order).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a bundle serialises");
        v.push(b'\n');
        v
    }
}

/// What goes into a bundle, decided from the domain's state (as new as the checkpoint or newer;
/// what lies past the checkpoint is left out), before any entry is read: the export, the manifests' entries, the key registry, and the summary.
#[derive(Clone, Debug)]
pub struct Plan {
    pub export: ExportHeader,
    pub manifests: Vec<ManifestEntries>,
    /// The authority's key (signs genesis and the registry; registered by entry 0).
    pub authority: Option<PublicKey>,
    /// For each party key: its registry entries and the `party.registered` entry of its party.
    pub keys: HashMap<PublicKey, (KeyEntries, Option<u64>)>,
    pub summary: String,
    /// The size of the checkpoint the bundle is made under.
    pub size: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("entry {0} is not an export the log holds")]
    NoSuchExport(u64),
    #[error("the export (entry {index}) is not covered by the checkpoint (size {size})")]
    NotCovered { index: u64, size: u64 },
    #[error("entry {index}: {detail}")]
    Entry { index: u64, detail: String },
    #[error("reading entry {index}: {detail}")]
    Fetch { index: u64, detail: String },
}

impl Plan {
    /// Plan the bundle for the export at `export_index`, under a checkpoint of `size` entries
    /// (entries at or after `size` are left out: they are not under that checkpoint).
    pub fn from_domain(
        d: &dyn DomainQuery,
        export_index: u64,
        size: u64,
        origin: &str,
    ) -> Result<Plan, PlanError> {
        let exports = d.exports();
        let x = exports
            .iter()
            .find(|e| e.index == export_index)
            .ok_or(PlanError::NoSuchExport(export_index))?;
        if export_index >= size {
            return Err(PlanError::NotCovered {
                index: export_index,
                size,
            });
        }
        let export = ExportHeader {
            index: x.index,
            time: x.time,
            by: x.by.clone(),
            case: x.case.clone(),
            reason: x.reason.clone(),
            manifests: x.manifests.clone(),
            query: x.query.clone(),
            at: x.at,
        };
        let mut manifests = Vec::new();
        for n in &x.manifests {
            let Some(m) = d.manifest(n) else {
                continue;
            };
            let mut entries: BTreeSet<u64> = m.steps.iter().map(|s| s.index).collect();
            entries.extend(m.versions.iter().map(|v| v.index));
            entries.insert(m.issue_index);
            manifests.push(ManifestEntries {
                number: n.clone(),
                created_by: m.issue_index,
                entries: entries.into_iter().filter(|i| *i < size).collect(),
            });
        }
        let mut keys = HashMap::new();
        d.each_key(&mut |k, e| {
            let party = d.party_of(k).and_then(|p| d.party(&p)).map(|p| p.index);
            keys.insert(*k, (*e, party));
            ControlFlow::Continue(())
        });
        let summary = summary(d, &export, size, origin);
        Ok(Plan {
            export,
            manifests,
            authority: d.authority(),
            keys,
            summary,
            size,
        })
    }

    /// Put the bundle together: `fetch(index)` gives an entry's exact bytes and its inclusion
    /// proof under `checkpoint` (a note of the log `log_key`, covering the export).
    pub fn assemble(
        self,
        log_key: &NoteVerifier,
        checkpoint: &str,
        fetch: &mut dyn FnMut(u64) -> Result<(Vec<u8>, Vec<Hash>), String>,
    ) -> Result<Bundle, PlanError> {
        let mut why: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        why.entry(self.export.index)
            .or_default()
            .push(format!("export: case {}", self.export.case));
        for m in &self.manifests {
            for i in &m.entries {
                why.entry(*i)
                    .or_default()
                    .push(format!("manifest {}", m.number));
            }
        }
        why.entry(0)
            .or_default()
            .push("registry: genesis (the log and its authority)".into());
        // Read the chosen entries, then add the registry entries of every key that signed one.
        let mut got: BTreeMap<u64, (Vec<u8>, Vec<Hash>)> = BTreeMap::new();
        let mut signers: BTreeMap<String, PublicKey> = BTreeMap::new();
        for &i in why.keys() {
            let (bytes, proof) =
                fetch(i).map_err(|detail| PlanError::Fetch { index: i, detail })?;
            let e = Entry::decode(&bytes).map_err(|e| PlanError::Entry {
                index: i,
                detail: e.to_string(),
            })?;
            for k in e.event.signers() {
                if Some(*k) != self.authority {
                    signers.insert(k.to_string(), *k);
                }
            }
            got.insert(i, (bytes, proof));
        }
        // A device key brings the party key that delegated it (its `key.delegated` names it).
        let delegators: Vec<(String, PublicKey)> = signers
            .values()
            .filter_map(|k| self.keys.get(k)?.0.delegated_by)
            .filter(|by| Some(*by) != self.authority)
            .map(|by| (by.to_string(), by))
            .collect();
        signers.extend(delegators);
        let mut extra: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for (name, k) in &signers {
            let Some((ke, party)) = self.keys.get(k) else {
                continue;
            };
            let added = match ke.delegated_by {
                Some(_) => "key.delegated",
                None => "key.added",
            };
            extra
                .entry(ke.added)
                .or_default()
                .push(format!("registry: {added} of {name}"));
            if let Some(r) = ke.revoked {
                extra
                    .entry(r)
                    .or_default()
                    .push(format!("registry: key.revoked of {name}"));
            }
            if let Some(p) = party {
                extra
                    .entry(*p)
                    .or_default()
                    .push(format!("registry: party.registered, the holder of {name}"));
            }
        }
        for (i, mut reasons) in extra {
            if i >= self.size {
                // Not under the checkpoint (a revocation logged after it): left out.
                continue;
            }
            if let std::collections::btree_map::Entry::Vacant(v) = got.entry(i) {
                v.insert(fetch(i).map_err(|detail| PlanError::Fetch { index: i, detail })?);
            }
            let w = why.entry(i).or_default();
            for r in reasons.drain(..) {
                if !w.contains(&r) {
                    w.push(r);
                }
            }
        }
        let entries = got
            .into_iter()
            .map(|(index, (bytes, hashes))| BundleEntry {
                index,
                why: why.remove(&index).unwrap_or_default(),
                entry: B64.encode(&bytes),
                proof: TlogProof {
                    extra: None,
                    index,
                    hashes,
                    checkpoint: checkpoint.to_string(),
                }
                .format(),
            })
            .collect();
        Ok(Bundle {
            format: FORMAT.into(),
            log_key: log_key.to_string(),
            checkpoint: checkpoint.to_string(),
            export: self.export,
            manifests: self.manifests,
            entries,
            summary: self.summary,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The summary
// ---------------------------------------------------------------------------------------------

fn party_name(d: &dyn DomainQuery, id: &Uscc) -> String {
    match d.party(id) {
        Some(p) => format!("{} ({id})", p.name),
        None => id.to_string(),
    }
}

fn site_name(d: &dyn DomainQuery, id: &str) -> String {
    match d.site(id) {
        Some(s) => format!("{} ({id})", s.reg.name),
        None => id.to_string(),
    }
}

fn stream_name(s: Stream) -> &'static str {
    match s {
        Stream::Hazardous => "危险废物 hazardous waste",
        Stream::Construction => "建筑垃圾 construction waste",
    }
}

fn wire<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Markdown cells must not break the table.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn manifest_summary(d: &dyn DomainQuery, m: &Manifest, size: u64, at: Timestamp, out: &mut String) {
    use std::fmt::Write;
    let v = m.current();
    let _ = writeln!(
        out,
        "\n## Manifest {} — {} — status {}\n",
        m.number,
        stream_name(m.stream),
        m.status.as_str()
    );
    let _ = writeln!(
        out,
        "- Issued by {} at {} (entry {}){}",
        party_name(d, &m.issuer),
        m.issued_at.cst(),
        m.issue_index,
        m.reference
            .as_ref()
            .map(|r| format!(", reference {r}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "- From {} to {}; planned haulers: {}",
        site_name(d, &m.origin),
        site_name(d, &v.destination),
        if v.haulers.is_empty() {
            "none".to_string()
        } else {
            v.haulers
                .iter()
                .map(|h| party_name(d, h))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    if m.versions.len() > 1 {
        let _ = writeln!(
            out,
            "- Version {} (corrected {} time(s): entries {})",
            v.version,
            m.versions.len() - 1,
            m.versions[1..]
                .iter()
                .map(|v| v.index.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(out, "- Lines:");
    for (i, l) in v.lines.iter().enumerate() {
        let last = m
            .quantities
            .get(i)
            .map(|q| format!("; last counted {}", quantity(q)))
            .unwrap_or_default();
        let hazards = if l.hazards.is_empty() {
            String::new()
        } else {
            format!(
                ", hazards {}",
                l.hazards
                    .iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        };
        let _ = writeln!(
            out,
            "  - line {}: {} ({}{hazards}), declared {}{last}",
            i + 1,
            line_label(l),
            wire(&l.form),
            quantity(&l.quantity)
        );
    }
    if !m.sources.is_empty() {
        let _ = writeln!(
            out,
            "- Made from: {}",
            m.sources
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !m.onward.is_empty() {
        let _ = writeln!(
            out,
            "- Went on as: {}",
            m.onward
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !m.vehicles.is_empty() {
        let vs: Vec<String> = m
            .vehicles
            .iter()
            .map(|p| match d.vehicle(p) {
                Some(v) => format!("{p} ({})", party_name(d, &v.party)),
                None => p.to_string(),
            })
            .collect();
        let _ = writeln!(out, "- Vehicles: {}", vs.join(", "));
    }
    let _ = writeln!(
        out,
        "- Parties: {}",
        m.parties
            .iter()
            .map(|p| party_name(d, p))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let _ = writeln!(out, "- Holder now: {}", party_name(d, &m.holder));
    let _ = writeln!(
        out,
        "\n| entry | logged | step | from | to | vehicle | quantities |\n|---|---|---|---|---|---|---|"
    );
    for s in m.steps.iter().filter(|s| s.index < size) {
        let q = s
            .quantities
            .as_ref()
            .map(|q| q.iter().map(quantity).collect::<Vec<_>>().join(" / "))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            s.index,
            s.time.cst(),
            s.kind,
            cell(
                &s.from
                    .as_ref()
                    .map(|p| party_name(d, p))
                    .unwrap_or_default()
            ),
            cell(&s.to.as_ref().map(|p| party_name(d, p)).unwrap_or_default()),
            s.vehicle
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            q
        );
    }
    // Flags as of the export (overdue depends on the time it is judged at).
    let flags: Vec<_> = m
        .flags_at(at, d.limits())
        .into_iter()
        .filter(|f| f.index < size)
        .collect();
    if flags.is_empty() {
        let _ = writeln!(out, "\nFlags as of the export: none.");
    } else {
        let _ = writeln!(out, "\nFlags as of the export:");
        for f in flags {
            let _ = writeln!(out, "- {} (entry {}): {}", wire(&f.kind), f.index, f.detail);
        }
    }
}

/// The readable account of the selection.
fn summary(d: &dyn DomainQuery, x: &ExportHeader, size: u64, origin: &str) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "# Case {} — evidence bundle\n", x.case);
    let _ = writeln!(
        out,
        "Pulled by {} for: {}. The pull is itself entry {} of the log {origin} (logged {}, stated time {}).",
        party_name(d, &x.by),
        x.reason,
        x.index,
        x.time.cst(),
        x.at.cst()
    );
    if let Some(q) = &x.query {
        let _ = writeln!(out, "Selected by the search: `{}`.", q.replace('`', "'"));
    }
    let _ = writeln!(
        out,
        "Manifests: {}. The checkpoint covers {size} entries.",
        x.manifests
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "\nThis summary is written by the log's server as a reading aid; the evidence is the entries' bytes and their proofs."
    );
    for n in &x.manifests {
        if let Some(m) = d.manifest(n) {
            manifest_summary(d, &m, size, x.time, &mut out);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

/// One thing checked: what (`checkpoint`, `entry 17`, `export`, ...), whether it held, and the
/// detail (what was found, or exactly what failed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub subject: String,
    pub ok: bool,
    pub detail: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.detail)
    }
}

/// Everything `verify` checked, and the bundle's summary when it could be read.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub checks: Vec<Check>,
    /// The server's summary as stored in the bundle: a reading aid, never checked.
    pub summary: Option<String>,
    /// What the entries say, re-derived by the verifier from their bytes alone ([`account`]).
    pub account: Option<String>,
    pub export: Option<ExportHeader>,
    /// Checkpoint size and how many signature lines it carries besides the log's.
    pub checkpoint: Option<(Checkpoint, usize)>,
    pub entries: usize,
}

impl Report {
    fn pass(&mut self, subject: impl Into<String>, detail: impl Into<String>) {
        self.checks.push(Check {
            subject: subject.into(),
            ok: true,
            detail: detail.into(),
        });
    }

    fn fail(&mut self, subject: impl Into<String>, detail: impl Into<String>) {
        self.checks.push(Check {
            subject: subject.into(),
            ok: false,
            detail: detail.into(),
        });
    }

    pub fn ok(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }

    pub fn failures(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.ok).collect()
    }

    /// Whether some failure reads exactly `text` ("entry 17: ...").
    pub fn names(&self, text: &str) -> bool {
        self.failures().iter().any(|c| c.to_string() == text)
    }
}

/// Signature lines of a note besides those by `log` (cosignatures; not checked here).
fn other_signature_lines(note: &str, log: &NoteVerifier) -> usize {
    let Some(split) = note.rfind("\n\n") else {
        return 0;
    };
    let prefix = format!("\u{2014} {} ", log.name);
    note[split + 2..]
        .lines()
        .filter(|l| !l.starts_with(&prefix))
        .count()
}

/// The manifest numbers an event names (`manifest`, `input`, `inputs`).
fn named_manifests(ev: &serde_json::Map<String, Value>) -> Vec<&str> {
    let mut out = Vec::new();
    for k in ["manifest", "input"] {
        if let Some(s) = ev.get(k).and_then(Value::as_str) {
            out.push(s);
        }
    }
    if let Some(a) = ev.get("inputs").and_then(Value::as_array) {
        out.extend(a.iter().filter_map(Value::as_str));
    }
    out
}

/// Verify a bundle from its bytes with the log's verifier key alone. Every check is reported;
/// the bundle holds when [`Report::ok`].
/// [`verify`], and demand that the bundle's checkpoint carries valid cosignatures (C2SP
/// tlog-cosignature) of at least `quorum` of the given `witnesses`: a court need not take the
/// log's word that everybody saw the same log.
pub fn verify_witnessed(
    bytes: &[u8],
    log: &NoteVerifier,
    witnesses: &[crate::ledger::cosignature::WitnessKey],
    quorum: usize,
) -> Report {
    let mut r = verify(bytes, log);
    let Ok(b) = serde_json::from_slice::<Bundle>(bytes) else {
        return r; // already failed as "bundle"
    };
    match crate::ledger::cosignature::open_cosigned(&b.checkpoint, log, witnesses, quorum) {
        Ok(c) => {
            let names: Vec<String> = c.cosigners.iter().map(|(w, _)| w.name.clone()).collect();
            r.pass(
                "witnesses",
                format!(
                    "{} of {} known witnesses cosigned the checkpoint ({}); {quorum} required",
                    c.cosigners.len(),
                    witnesses.len(),
                    names.join(", ")
                ),
            );
        }
        Err(e) => r.fail("witnesses", e.to_string()),
    }
    r
}

pub fn verify(bytes: &[u8], log: &NoteVerifier) -> Report {
    let mut r = Report::default();
    let b: Bundle = match serde_json::from_slice(bytes) {
        Ok(b) => b,
        Err(e) => {
            r.fail(
                "bundle",
                format!("not a wasteledger bundle ({FORMAT} JSON): {e}"),
            );
            return r;
        }
    };
    r.summary = Some(b.summary.clone());
    r.export = Some(b.export.clone());
    r.entries = b.entries.len();
    if b.format == FORMAT {
        r.pass(
            "bundle",
            format!("format {FORMAT}, {} entries", b.entries.len()),
        );
    } else {
        r.fail("bundle", format!("format {:?} is not {FORMAT:?}", b.format));
    }
    if b.log_key.trim() == log.to_string() {
        r.pass("log key", format!("the bundle names the given key {log}"));
    } else {
        r.fail(
            "log key",
            format!(
                "the bundle names {}, not the given key {log} (checked with the given key)",
                b.log_key.trim()
            ),
        );
    }

    // The checkpoint: signed by the log's key. If it is not, the proofs are still checked
    // against what it says, so that every other failure is named too.
    let cp = match Checkpoint::open(&b.checkpoint, log) {
        Ok(cp) => {
            let others = other_signature_lines(&b.checkpoint, log);
            r.pass(
                "checkpoint",
                format!(
                    "signed by {}: {} entries, root {}; {} other signature line(s) (cosignatures, not checked here)",
                    log.name,
                    cp.size,
                    B64.encode(cp.root),
                    others
                ),
            );
            r.checkpoint = Some((cp.clone(), others));
            Some(cp)
        }
        Err(e) => {
            r.fail("checkpoint", describe_note_error(&e));
            b.checkpoint
                .rfind("\n\n")
                .and_then(|i| Checkpoint::parse_body(&b.checkpoint[..i + 1]).ok())
        }
    };

    // Each entry: bytes, index, proof, signatures.
    let mut parsed: BTreeMap<u64, Entry> = BTreeMap::new();
    let mut raw: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut last: Option<u64> = None;
    for e in &b.entries {
        let s = format!("entry {}", e.index);
        if last.is_some_and(|l| l >= e.index) {
            r.fail(
                &s,
                "entries are not in strictly increasing index order (listed twice or out of order)",
            );
        }
        last = Some(e.index);
        let Ok(bytes) = B64.decode(&e.entry) else {
            r.fail(&s, "`entry` is not base64");
            continue;
        };
        match Entry::decode(&bytes) {
            Ok(en) if en.index == e.index => {
                r.pass(
                    &s,
                    format!(
                        "bytes parse as entry {} ({})",
                        en.index,
                        en.event.event_type()
                    ),
                );
                parsed.insert(e.index, en);
                raw.insert(e.index, bytes.clone());
            }
            Ok(en) => r.fail(
                &s,
                format!("the bytes hold entry {}, not {}", en.index, e.index),
            ),
            Err(err) => r.fail(&s, format!("the bytes do not parse as a log entry: {err}")),
        }
        match TlogProof::parse(&e.proof) {
            Err(err) => r.fail(&s, format!("proof: {err}")),
            Ok(p) => {
                if p.index != e.index {
                    r.fail(&s, format!("the proof is for index {}", p.index));
                }
                if p.checkpoint != b.checkpoint {
                    r.fail(&s, "the proof carries another checkpoint than the bundle's");
                }
                if let Some(cp) = &cp {
                    let p = TlogProof {
                        index: e.index,
                        ..p
                    };
                    match p.verify_against(&bytes, cp) {
                        Ok(()) => r.pass(
                            &s,
                            format!(
                                "inclusion proof ({} hashes) leads to the checkpoint's root",
                                p.hashes.len()
                            ),
                        ),
                        Err(err) => r.fail(&s, err.to_string()),
                    }
                }
            }
        }
        if let Some(en) = parsed.get(&e.index) {
            let msg = en.event.signing_message();
            let mut all = true;
            for sig in en.event.signatures() {
                if sig.key.0.verify_strict(&msg, &sig.sig).is_err() {
                    all = false;
                    r.fail(&s, format!("signature by key {} does not verify", sig.key));
                }
            }
            if all {
                r.pass(
                    &s,
                    format!(
                        "signatures verify (verify_strict): {}",
                        en.event
                            .signers()
                            .map(|k| k.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
    }

    check_chain(&mut r, &parsed, &raw);
    check_keys(&mut r, &parsed, log);
    check_export(&mut r, &b, &parsed);
    check_manifests(&mut r, &b, &parsed);
    r.account = Some(account(&b, &parsed));
    r
}

/// Entries next to each other in the log are hash-chained: entry N's `prev` is the leaf hash of
/// entry N-1 (when both are in the bundle), entry 0's is 32 zero bytes. Entries further apart
/// are tied together by their inclusion proofs only. And the log's time never goes backwards.
fn check_chain(r: &mut Report, parsed: &BTreeMap<u64, Entry>, raw: &BTreeMap<u64, Vec<u8>>) {
    let mut before: Option<(u64, &Entry)> = None;
    for (&i, e) in parsed {
        let s = format!("entry {i}");
        if i == 0 {
            if e.prev == [0; 32] {
                r.pass(&s, "prev is 32 zero bytes: entry 0 starts the chain");
            } else {
                r.fail(
                    &s,
                    format!(
                        "prev is {}, not 32 zero bytes (entry 0 starts the chain)",
                        B64.encode(e.prev)
                    ),
                );
            }
        } else if let Some(bytes) = raw.get(&(i - 1)) {
            let want = leaf_hash(bytes);
            if e.prev == want {
                r.pass(&s, format!("prev is the leaf hash of entry {}", i - 1));
            } else {
                r.fail(
                    &s,
                    format!(
                        "prev is {}, not the leaf hash {} of entry {}: the entries do not chain",
                        B64.encode(e.prev),
                        B64.encode(want),
                        i - 1
                    ),
                );
            }
        }
        if let Some((j, p)) = before {
            if e.time < p.time {
                r.fail(
                    &s,
                    format!(
                        "logged at {}, before entry {j} (logged at {}): the log's time never goes backwards",
                        e.time, p.time
                    ),
                );
            }
        }
        before = Some((i, e));
    }
}

/// What the bundle's entries say, re-derived from their bytes alone: the export, then for each
/// listed manifest every entry with its log time, event type, signers (the holder their
/// `key.added` names, and that party's registered name) and the event's own fields. The stored
/// `summary` is written by the server from the whole log's state (statuses, flags, site names
/// the bundle does not carry), so it cannot be rebuilt from the bundle; this account can, and
/// is what a verifier prints as the bundle's content. Pure and deterministic: the same bytes
/// give the same text.
pub fn account(b: &Bundle, parsed: &BTreeMap<u64, Entry>) -> String {
    use std::fmt::Write;
    let str_of = |e: &Entry, f: &str| {
        e.event
            .event()
            .get(f)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let authority = parsed.get(&0).and_then(|g| str_of(g, "authority_key"));
    let of_type = |t: &'static str| parsed.values().filter(move |e| e.event.event_type() == t);
    let names: HashMap<String, String> = of_type("party.registered")
        .filter_map(|e| Some((str_of(e, "party")?, str_of(e, "name")?)))
        .collect();
    let holders: HashMap<String, String> = of_type("key.added")
        .chain(of_type("key.delegated"))
        .filter_map(|e| Some((str_of(e, "key")?, str_of(e, "holder")?)))
        .collect();
    let signer = |k: &PublicKey| {
        let k = k.to_string();
        if Some(&k) == authority.as_ref() {
            return "the authority".to_string();
        }
        match holders.get(&k) {
            Some(h) => match names.get(h) {
                Some(n) => format!("{n} ({h})"),
                None => h.clone(),
            },
            None => format!("key {k} (not registered in the bundle)"),
        }
    };
    let mut out = String::new();
    let x = &b.export;
    let _ = writeln!(
        out,
        "# Case {}: what the entries say\n\nRe-derived by the verifier from the entries' bytes alone; it holds only if every check above holds.\n",
        x.case
    );
    match parsed.get(&x.index) {
        Some(e) => {
            let _ = writeln!(
                out,
                "The pull is entry {} (logged {}, {}), signed by {}: {}",
                x.index,
                e.time.cst(),
                e.event.event_type(),
                e.event.signers().map(signer).collect::<Vec<_>>().join(", "),
                fields(e)
            );
        }
        None => {
            let _ = writeln!(out, "The pull, entry {}, is not in the bundle.", x.index);
        }
    }
    for m in &b.manifests {
        let _ = writeln!(
            out,
            "\n## Manifest {} (created by entry {})\n\n| entry | logged | event | signed by | what the signed event says |\n|---|---|---|---|---|",
            m.number, m.created_by
        );
        for i in &m.entries {
            match parsed.get(i) {
                Some(e) => {
                    let _ = writeln!(
                        out,
                        "| {i} | {} | {} | {} | {} |",
                        e.time.cst(),
                        e.event.event_type(),
                        cell(&e.event.signers().map(signer).collect::<Vec<_>>().join("; ")),
                        cell(&fields(e))
                    );
                }
                None => {
                    let _ = writeln!(out, "| {i} | | (not in the bundle) | | |");
                }
            }
        }
    }
    out
}

/// An event's fields but its type, as compact JSON (keys sorted, as signed).
fn fields(e: &Entry) -> String {
    let mut ev = e.event.event().clone();
    ev.remove("type");
    Value::Object(ev).to_string()
}

/// Every signer's key has a registering entry logged before its use, and no revocation in the
/// bundle effective at or before the use.
fn check_keys(r: &mut Report, parsed: &BTreeMap<u64, Entry>, log: &NoteVerifier) {
    let Some(genesis) = parsed.get(&0) else {
        r.fail(
            "registry",
            "entry 0 (genesis, which names the log's key and the authority) is not in the bundle",
        );
        return;
    };
    let g = genesis.event.event();
    let authority = g
        .get("authority_key")
        .and_then(Value::as_str)
        .and_then(|s| PublicKey::parse("authority_key", s).ok());
    let log_key = g.get("log_key").and_then(Value::as_str);
    let origin = g.get("log").and_then(Value::as_str);
    let our = PublicKey(log.key).to_string();
    match (genesis.event.event_type(), authority, log_key) {
        ("log.genesis", Some(_), Some(k)) if k != our => {
            r.fail(
                "entry 0",
                format!("genesis names log key {k}, not the given log key {our}"),
            );
        }
        ("log.genesis", Some(a), Some(_)) if genesis.event.signers().eq([&a]) => {
            if origin == Some(log.name.as_str()) {
                r.pass(
                    "entry 0",
                    format!(
                        "genesis of the log {} with the given key; authority {a}",
                        log.name
                    ),
                );
            } else {
                r.fail(
                    "entry 0",
                    format!(
                        "genesis names the log {}, not {:?} (the given key's name)",
                        origin.map_or("(none)".to_string(), |o| format!("{o:?}")),
                        log.name
                    ),
                );
            }
        }
        _ => r.fail("entry 0", "not a genesis signed by the authority it names"),
    }
    let Some(authority) = authority else { return };
    let by_authority = |e: &Entry| e.event.signers().all(|k| *k == authority);
    let mut added: HashMap<PublicKey, (u64, String)> = HashMap::new();
    let mut revoked: HashMap<PublicKey, (Timestamp, u64)> = HashMap::new();
    let mut parties: HashMap<String, u64> = HashMap::new();
    // Device keys: (entry, holder, the key that delegated, not_after).
    let mut delegated: HashMap<PublicKey, (u64, String, PublicKey, Timestamp)> = HashMap::new();
    // A party key's revocation of a device key of its holder is checked with the chains below.
    let by_party = |e: &Entry| {
        let mut s = e.event.signers();
        match (s.next(), s.next()) {
            (Some(k), None) if *k != authority => Some(*k),
            _ => None,
        }
    };
    for (i, e) in parsed {
        let ev = e.event.event();
        let t = e.event.event_type();
        let party_revocation = t == "key.revoked" && by_party(e).is_some();
        if matches!(t, "key.added" | "key.revoked" | "party.registered")
            && !by_authority(e)
            && !party_revocation
        {
            r.fail(
                format!("entry {i}"),
                format!("{t} is not signed by the authority"),
            );
            continue;
        }
        // The registry's entries are read with the log's own rules (`ledger::state`): one the
        // log would have refused (a revocation whose effective time has an offset, a key that
        // is not one) fails here, and is not skipped.
        let refused = |r: &mut Report, e: crate::ledger::state::Refusal| {
            r.fail(
                format!("entry {i}"),
                format!("{t}: {e}; the log refuses such an entry"),
            )
        };
        match t {
            "key.added" => match key_addition(ev) {
                Ok((k, _)) if added.contains_key(&k) => r.fail(
                    format!("entry {i}"),
                    format!(
                        "key.added: key {k} is already added at entry {}; the log refuses such an entry",
                        added[&k].0
                    ),
                ),
                Ok((k, holder)) => {
                    added.insert(k, (*i, holder.to_string()));
                }
                Err(e) => refused(r, e),
            },
            "key.delegated" => match delegation(ev) {
                Ok(d) if added.contains_key(&d.key) || delegated.contains_key(&d.key) => r.fail(
                    format!("entry {i}"),
                    format!(
                        "key.delegated: key {} is already registered; the log refuses such an entry",
                        d.key
                    ),
                ),
                Ok(d) if d.not_after <= e.time => r.fail(
                    format!("entry {i}"),
                    format!(
                        "key.delegated: not_after {} is not after the entry's time {}; the log refuses such an entry",
                        d.not_after, e.time
                    ),
                ),
                Ok(d) => match e.event.signers().collect::<Vec<_>>()[..] {
                    [by] => {
                        delegated.insert(d.key, (*i, d.holder.to_string(), *by, d.not_after));
                    }
                    _ => r.fail(
                        format!("entry {i}"),
                        "key.delegated: not signed by exactly one key; the log refuses such an entry",
                    ),
                },
                Err(e) => refused(r, e),
            },
            "key.revoked" => match revocation(ev) {
                Ok((k, _)) if party_revocation && !delegated.contains_key(&k) => r.fail(
                    format!("entry {i}"),
                    format!(
                        "key.revoked: of key {k}, which has no key.delegated before it in the bundle, and not signed by the authority; the log refuses such an entry"
                    ),
                ),
                Ok((k, _))
                    if party_revocation
                        && by_party(e).and_then(|by| added.get(&by)).map(|x| &x.1)
                            != Some(&delegated[&k].1) =>
                {
                    r.fail(
                        format!("entry {i}"),
                        format!(
                            "key.revoked: of device key {k} of {}, signed by a key that is neither the authority nor a party key of {} in the bundle; the log refuses such an entry",
                            delegated[&k].1, delegated[&k].1
                        ),
                    )
                }
                Ok((k, _)) if !added.contains_key(&k) && !delegated.contains_key(&k) => r.fail(
                    format!("entry {i}"),
                    format!(
                        "key.revoked: key {k} has no key.added before it in the bundle; the log refuses such an entry"
                    ),
                ),
                Ok((k, eff)) => {
                    // The earliest effective revocation of a key is the one that counts.
                    let e = revoked.entry(k).or_insert((eff, *i));
                    if eff < e.0 {
                        *e = (eff, *i);
                    }
                }
                Err(e) => refused(r, e),
            },
            "party.registered" => {
                if let Some(p) = ev.get("party").and_then(Value::as_str) {
                    parties.insert(p.to_string(), *i);
                }
            }
            _ => {}
        }
    }
    let mut holders_checked: BTreeSet<String> = BTreeSet::new();
    for (i, e) in parsed {
        if *i == 0 {
            continue;
        }
        let s = format!("entry {i}");
        let mut fine = true;
        let mut used = Vec::new();
        for k in e.event.signers() {
            if *k == authority {
                used.push("the authority (entry 0)".to_string());
                continue;
            }
            let device = delegated.get(k);
            let found = added
                .get(k)
                .cloned()
                .or_else(|| device.map(|(a, h, ..)| (*a, h.clone())));
            let Some((a, holder)) = found else {
                fine = false;
                // A device key's `key.delegated` missing reads the same: nothing registers K.
                r.fail(&s, format!("key {k} has no key.added entry in the bundle"));
                continue;
            };
            let a = &a;
            if let Some((_, _, _, not_after)) = device {
                if *not_after <= e.time {
                    fine = false;
                    r.fail(
                        &s,
                        format!(
                            "device key {k} used at {} on or after its not_after {not_after} (entry {a})",
                            e.time
                        ),
                    );
                    continue;
                }
            }
            if a >= i {
                fine = false;
                r.fail(
                    &s,
                    format!("key {k} used before it was registered (entry {a})"),
                );
                continue;
            }
            if let Some((eff, ri)) = revoked.get(k) {
                if *eff <= e.time {
                    fine = false;
                    r.fail(
                        &s,
                        format!(
                            "key {k} used at {} on or after its revocation effective {eff} (entry {ri})",
                            e.time
                        ),
                    );
                    continue;
                }
            }
            if let Some((_, _, by, _)) = device {
                if holders_checked.insert(format!("chain {k}")) {
                    if let Err(why) =
                        delegation_chain(parsed, &added, &revoked, authority, *a, &holder, by)
                    {
                        fine = false;
                        r.fail(&s, format!("device key {k}: {why}"));
                        continue;
                    }
                }
            }
            if holders_checked.insert(k.to_string()) {
                match parties.get(&holder) {
                    Some(p) if p < a => {}
                    _ => r.fail(
                        format!("entry {a}"),
                        format!("key {k} is added for {holder:?}, which has no party.registered entry before it in the bundle"),
                    ),
                }
            }
            match device {
                Some((_, _, by, _)) if *by == authority => used.push(format!(
                    "device key {k} of {holder} (entry {a}), delegated by the authority"
                )),
                Some((_, _, by, _)) => used.push(format!(
                    "device key {k} of {holder} (entry {a}), delegated by party key {by} (entry {})",
                    added.get(by).map_or(0, |x| x.0)
                )),
                None => used.push(format!("{k} of {holder} (entry {a})")),
            }
        }
        if fine {
            r.pass(
                &s,
                format!(
                    "signer keys registered before use and not revoked at {}: {}",
                    e.time,
                    used.join(", ")
                ),
            );
        }
    }
}

/// The chain authority → party key `by` → the device key delegated at entry `at` for
/// `holder`: `by` is the authority, or a party key of `holder` whose `key.added` is in the
/// bundle before `at` and not revoked at the delegation's time.
fn delegation_chain(
    parsed: &BTreeMap<u64, Entry>,
    added: &HashMap<PublicKey, (u64, String)>,
    revoked: &HashMap<PublicKey, (Timestamp, u64)>,
    authority: PublicKey,
    at: u64,
    holder: &str,
    by: &PublicKey,
) -> Result<(), String> {
    if *by == authority {
        return Ok(());
    }
    let time = parsed[&at].time;
    let Some((pa, ph)) = added.get(by) else {
        return Err(format!(
            "its key.delegated (entry {at}) is signed by {by}, which has no key.added entry in the bundle (a device key delegates nothing; the chain is authority → party key → device key)"
        ));
    };
    if *pa >= at {
        return Err(format!(
            "its key.delegated (entry {at}) is signed by {by} before that key was added (entry {pa})"
        ));
    }
    if ph != holder {
        return Err(format!(
            "its key.delegated (entry {at}) is for {holder} but signed by {by}, a party key of {ph}"
        ));
    }
    if let Some((eff, ri)) = revoked.get(by).filter(|(eff, _)| *eff <= time) {
        return Err(format!(
            "its key.delegated (entry {at}, at {time}) is signed by {by}, revoked effective {eff} (entry {ri})"
        ));
    }
    Ok(())
}

/// The export entry is in the bundle and says what the header says.
fn check_export(r: &mut Report, b: &Bundle, parsed: &BTreeMap<u64, Entry>) {
    let x = &b.export;
    let Some(e) = parsed.get(&x.index) else {
        r.fail(
            "export",
            format!("entry {} (the export) is not in the bundle", x.index),
        );
        return;
    };
    if e.event.event_type() != "evidence.exported" {
        r.fail(
            "export",
            format!(
                "entry {} is a {}, not evidence.exported",
                x.index,
                e.event.event_type()
            ),
        );
        return;
    }
    let ev = e.event.event();
    // Signed by a key of the party it names (its key.added says so), or by the authority.
    let authority = parsed.get(&0).and_then(|g| {
        g.event
            .event()
            .get("authority_key")?
            .as_str()
            .map(str::to_string)
    });
    let holder_of = |k: &PublicKey| {
        parsed.values().find_map(|a| {
            let ev = a.event.event();
            (matches!(a.event.event_type(), "key.added" | "key.delegated")
                && ev.get("key").and_then(Value::as_str) == Some(k.to_string().as_str()))
            .then(|| ev.get("holder").and_then(Value::as_str).map(str::to_string))
            .flatten()
        })
    };
    for k in e.event.signers() {
        let ks = k.to_string();
        if Some(&ks) == authority.as_ref() {
            continue;
        }
        if let Some(h) = holder_of(k) {
            if h != x.by.as_str() {
                r.fail(
                    "export",
                    format!(
                        "entry {} is signed by key {ks} of {h}, not of {} whom it names",
                        x.index, x.by
                    ),
                );
            }
        }
        // A key with no key.added in the bundle is named by the key checks.
    }
    let want = serde_json::json!({
        "by": x.by, "case": x.case, "reason": x.reason, "manifests": x.manifests,
        "query": x.query, "at": x.at,
    });
    let mut same = true;
    for (k, v) in want.as_object().expect("object") {
        let got = ev.get(k).cloned().unwrap_or(Value::Null);
        // Times compare as times (the header writes them in the log's form).
        let equal = match (k.as_str(), got.as_str(), v.as_str()) {
            ("at", Some(a), Some(b)) => Timestamp::parse(a).ok() == Timestamp::parse(b).ok(),
            _ => got == *v,
        };
        if !equal {
            same = false;
            r.fail(
                "export",
                format!(
                    "the bundle's header says {k} = {v}, entry {} says {got}",
                    x.index
                ),
            );
        }
    }
    if e.time != x.time {
        same = false;
        r.fail(
            "export",
            format!(
                "the bundle's header says it was logged at {}, entry {} at {}",
                x.time, x.index, e.time
            ),
        );
    }
    if same {
        r.pass(
            "export",
            format!(
                "entry {} records that {} pulled case {:?} ({} manifest(s)) at {}",
                x.index,
                x.by,
                x.case,
                x.manifests.len(),
                e.time
            ),
        );
    }
    let listed: BTreeSet<&ManifestNumber> = b.manifests.iter().map(|m| &m.number).collect();
    for n in &x.manifests {
        if !listed.contains(n) {
            r.fail(
                "export",
                format!("manifest {n} is selected but the bundle lists no entries for it"),
            );
        }
    }
    for n in listed {
        if !x.manifests.contains(n) {
            r.fail(
                "export",
                format!("manifest {n} is in the bundle but not in the selection"),
            );
        }
    }
}

/// Each entry listed under a manifest is in the bundle and names it (or made it).
fn check_manifests(r: &mut Report, b: &Bundle, parsed: &BTreeMap<u64, Entry>) {
    const CREATING: [&str; 4] = [
        "manifest.issued",
        "station.consolidated",
        "station.split",
        "custody.received",
    ];
    let mut seen: BTreeSet<&ManifestNumber> = BTreeSet::new();
    for m in &b.manifests {
        let s = format!("manifest {}", m.number);
        let mut fine = true;
        if !seen.insert(&m.number) {
            fine = false;
            r.fail(&s, "listed more than once in `manifests`");
        }
        if let Some(w) = m.entries.windows(2).find(|w| w[0] >= w[1]) {
            fine = false;
            r.fail(
                &s,
                format!(
                    "its entries are not in strictly ascending order: {} is listed after {}",
                    w[1], w[0]
                ),
            );
        }
        if !m.entries.contains(&m.created_by) {
            fine = false;
            r.fail(
                &s,
                format!(
                    "its creating entry {} is not among its entries",
                    m.created_by
                ),
            );
        }
        let mut kinds = Vec::new();
        for i in &m.entries {
            let Some(e) = parsed.get(i) else {
                fine = false;
                r.fail(
                    &s,
                    format!("entry {i} is listed but not (readable) in the bundle"),
                );
                continue;
            };
            let t = e.event.event_type();
            kinds.push(format!("{i} {t}"));
            if *i == m.created_by {
                if !CREATING.contains(&t) {
                    fine = false;
                    r.fail(&s, format!("entry {i} is a {t}, which creates no manifest"));
                }
                continue;
            }
            if !named_manifests(e.event.event()).contains(&m.number.as_str()) {
                fine = false;
                r.fail(
                    format!("entry {i}"),
                    format!(
                        "listed under manifest {} but its event does not name it",
                        m.number
                    ),
                );
            }
        }
        if fine {
            r.pass(
                &s,
                format!(
                    "{} entries, each in the bundle and naming it (created by entry {}): {}",
                    m.entries.len(),
                    m.created_by,
                    kinds.join("; ")
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn log() -> NoteVerifier {
        NoteVerifier::new(
            "example.com/log",
            SigningKey::from_bytes(&[5; 32]).verifying_key(),
        )
        .unwrap()
    }

    #[test]
    fn what_is_not_a_bundle_is_named_and_never_passes() {
        let r = verify(b"not json", &log());
        assert!(!r.ok());
        assert!(r.failures()[0]
            .to_string()
            .starts_with("bundle: not a wasteledger bundle (wasteledger-bundle/v1 JSON): "));
        // A field this version does not know is refused (the format is closed).
        let r = verify(br#"{"format":"wasteledger-bundle/v1","extra":1}"#, &log());
        assert!(
            r.failures()[0]
                .to_string()
                .contains("unknown field `extra`"),
            "{:?}",
            r.failures()
        );
        assert!(
            !Report::default().ok(),
            "a report with no checks is not a pass"
        );
    }

    #[test]
    fn an_empty_bundle_under_a_valid_checkpoint_fails_for_what_it_lacks() {
        let k = SigningKey::from_bytes(&[5; 32]);
        let v = log();
        let cp = Checkpoint {
            origin: v.name.clone(),
            size: 3,
            root: [7; 32],
        }
        .sign(&k);
        let b = Bundle {
            format: "wasteledger-bundle/v2".into(),
            log_key: v.to_string(),
            checkpoint: cp,
            export: ExportHeader {
                index: 2,
                time: Timestamp::from_unix_millis(0),
                by: Uscc::parse("91350100M000100Y43").unwrap(),
                case: "C-1".into(),
                reason: "r".into(),
                manifests: vec![ManifestNumber::parse("20263205000001").unwrap()],
                query: None,
                at: Timestamp::from_unix_millis(0),
            },
            manifests: vec![],
            entries: vec![],
            summary: String::new(),
        };
        let r = verify(&b.to_bytes(), &v);
        let f: Vec<String> = r.failures().iter().map(|c| c.to_string()).collect();
        assert_eq!(
            f,
            [
                "bundle: format \"wasteledger-bundle/v2\" is not \"wasteledger-bundle/v1\"",
                "registry: entry 0 (genesis, which names the log's key and the authority) is not in the bundle",
                "export: entry 2 (the export) is not in the bundle",
            ]
        );
        assert!(r.checks.iter().any(|c| c.ok && c.subject == "checkpoint"));
    }

    #[test]
    fn a_delegation_chain_is_checked_link_by_link() {
        use crate::ledger::event::SignedEvent;
        let k = |n: u8| SigningKey::from_bytes(&[n; 32]);
        let pk = |n: u8| PublicKey(k(n).verifying_key());
        let at = |ms: u64| Timestamp::from_unix_millis(ms);
        let entry = |index: u64, ms: u64| Entry {
            index,
            prev: [0; 32],
            time: at(ms),
            event: SignedEvent::sign(serde_json::json!({"type": "key.delegated"}), &[&k(9)])
                .unwrap(),
        };
        let parsed: BTreeMap<u64, Entry> = [(5, entry(5, 500))].into_iter().collect();
        let added: HashMap<PublicKey, (u64, String)> = [
            (pk(2), (3, "plant".to_string())),
            (pk(4), (7, "plant".to_string())),
        ]
        .into_iter()
        .collect();
        let mut revoked = HashMap::new();
        let chain = |revoked: &HashMap<PublicKey, (Timestamp, u64)>, holder: &str, by: u8| {
            delegation_chain(&parsed, &added, revoked, pk(1), 5, holder, &pk(by))
        };
        assert_eq!(
            chain(&revoked, "plant", 1),
            Ok(()),
            "the authority delegates"
        );
        assert_eq!(chain(&revoked, "plant", 2), Ok(()));
        let e = chain(&revoked, "hauler", 2).unwrap_err();
        assert!(e.contains("is for hauler but signed by"), "{e}");
        assert!(e.contains("a party key of plant"), "{e}");
        let e = chain(&revoked, "plant", 3).unwrap_err();
        assert!(
            e.contains("which has no key.added entry in the bundle"),
            "{e}"
        );
        let e = chain(&revoked, "plant", 4).unwrap_err();
        assert!(e.contains("before that key was added (entry 7)"), "{e}");
        revoked.insert(pk(2), (at(500), 4));
        let e = chain(&revoked, "plant", 2).unwrap_err();
        assert!(e.contains("revoked effective"), "{e}");
        revoked.insert(pk(2), (at(501), 4));
        assert_eq!(
            chain(&revoked, "plant", 2),
            Ok(()),
            "revoked after the delegation"
        );
    }
}
