//! The log's own state, folded from its entries in order: who the authority is, which keys may
//! sign, and since when a key is revoked. The sequencer and every auditor run the same fold, so
//! "was this signer allowed to sign this entry, at that time?" has one answer, provable from the
//! log itself.
//!
//! Events the log itself understands (signed by the authority):
//! - `log.genesis` (entry 0 only): `{"type","log","log_key","authority_key"}`, and `rules`:
//!   the rulebook the domain judges the log's events by (absent: a bare signed log)
//! - `key.added`: `{"type","key","holder"}`: `key` may sign from this entry on
//! - `key.revoked`: `{"type","key","effective","reason"}`: entries logged at or after `effective`
//!   may no longer carry its signature. The authority revokes any key; a party key (one the
//!   authority added) also revokes the device keys delegated to its own holder
//! - `key.delegated` (signed by the authority or by one party key of `holder`):
//!   `{"type","key","holder","label","not_after"}` and optionally `person`: a device key (a
//!   phone's) that signs for `holder` from this entry until `not_after`. A device key delegates
//!   nothing: the chain is never deeper than authority → party key → device key
//!
//! Every other event is for the domain to judge: [`Fold`] is the seam where it plugs in, and
//! [`Rules`] is how the store reaches a live fold (and fresh ones for audits).

use super::event::{PublicKey, SignedEvent};
pub use super::kv::{FoldWrites, Kv};
use super::time::Timestamp;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use thiserror::Error;

/// The longest a party may delegate a device key for (five years).
pub const MAX_DELEGATION_MS: u64 = 1830 * 86_400_000;

/// Why an event is refused. Each names the field or the key at fault.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Refusal {
    #[error("field `{field}`: expected {expected}")]
    Field { field: String, expected: String },
    #[error("signer {key} is not a registered key")]
    UnknownKey { key: String },
    #[error("signer {key} was revoked effective {effective}")]
    RevokedKey { key: String, effective: String },
    #[error("event type `{event_type}` must be signed by the authority key {authority}")]
    NotAuthority {
        event_type: String,
        authority: String,
    },
    /// A signer who is not a party to this step, or a party to it who did not sign.
    #[error("field `{field}`: {detail}")]
    Signer { field: String, detail: String },
    /// A reference to something the log does not hold (a manifest, party, site, licence).
    #[error("field `{field}`: {detail}")]
    Unknown { field: String, detail: String },
    /// A hand-over (or other custody step) by a party that does not hold the load.
    #[error("field `{field}`: {detail}")]
    NotHolder { field: String, detail: String },
    /// A step the thing's current state does not allow (a void after pickup, a treatment
    /// before receipt).
    #[error("field `{field}`: {detail}")]
    State { field: String, detail: String },
    /// A delegated (device) key used at or after its `not_after`.
    #[error("signer {key} was delegated until {not_after}; the entry's time is not before it")]
    ExpiredKey { key: String, not_after: String },
    #[error("{0}")]
    Rule(String),
}

impl Refusal {
    /// The field at fault, when one is named.
    pub fn field(&self) -> Option<&str> {
        match self {
            Refusal::Field { field, .. }
            | Refusal::Signer { field, .. }
            | Refusal::Unknown { field, .. }
            | Refusal::NotHolder { field, .. }
            | Refusal::State { field, .. } => Some(field),
            Refusal::UnknownKey { .. }
            | Refusal::RevokedKey { .. }
            | Refusal::ExpiredKey { .. }
            | Refusal::NotAuthority { .. } => Some("signatures"),
            Refusal::Rule(_) => None,
        }
    }
}

fn field(f: &str, e: impl Into<String>) -> Refusal {
    Refusal::Field {
        field: f.into(),
        expected: e.into(),
    }
}

/// What a registered key may do, and since when it may not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    pub holder: String,
    pub added_at: u64,
    pub revoked: Option<(Timestamp, u64)>,
    /// Set for a device key (`key.delegated`); None for a party key (`key.added`).
    pub delegation: Option<Delegation>,
}

/// What a `key.delegated` entry says beyond the key and its holder.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delegation {
    /// The key that signed the delegation: the authority or a party key of the holder.
    pub by: PublicKey,
    pub label: String,
    /// The device key signs entries logged before this time only.
    pub not_after: Timestamp,
    /// A registered person of the holder (64 lower-hex), if the delegation names one.
    pub person: Option<String>,
}

/// A `key.delegated` event's fields, read as the log reads them (a bundle verifier and the
/// domain read them with the same rules).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelegatedKey<'a> {
    pub key: PublicKey,
    pub holder: &'a str,
    pub label: &'a str,
    pub not_after: Timestamp,
    pub person: Option<&'a str>,
}

/// The longest `label` of a `key.delegated` (bytes).
pub const MAX_LABEL: usize = 64;

/// The domain's seam: a fold over the log's events. Pure, like all of ledger/. `admit` checks the
/// event that would become entry `index` at `time` and, if it is admitted, applies it; a
/// refusal must leave the fold exactly as it was. The log's own events (`log.genesis`,
/// `key.*`) reach it after [`LogState`] has applied them (and are undone if it refuses);
/// reserved types the log does not know never reach it.
pub trait Fold: Send {
    fn admit(
        &mut self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        log: &LogState,
    ) -> Result<(), Refusal>;

    /// What the fold changed since this was last called, for the store to write with the
    /// batch (a fold kept in memory only returns nothing).
    fn take_writes(&mut self) -> FoldWrites {
        FoldWrites::default()
    }

    /// Everything a fold replayed in memory from entry 0 holds (its writes never taken), for
    /// an audit to compare with a stored state and then drop the fold: the pairs
    /// [`Fold::take_writes`] would give, but each value may be as encoded rather than as the
    /// store writes it, so long as it unpacks to the same bytes (the domain's values: not
    /// compressed, `domain::value::pack`).
    fn whole_state(&mut self) -> FoldWrites {
        self.take_writes()
    }

    /// Forget what changed since the writes were last taken (they were not stored).
    fn discard_writes(&mut self) {}

    /// How many entries the fold's stored state already holds: the store replays only the
    /// entries from there (0 for a fold kept in memory; [`HOLDS_EVERY_ENTRY`] for one that
    /// keeps nothing).
    fn applied(&self) -> u64 {
        0
    }

    /// What the entry at `index`, just admitted, created that its submitter is told about
    /// (the domain: the numbers of the manifests it made), for the store's receipt.
    fn created(&self, _index: u64) -> Vec<String> {
        Vec::new()
    }

    /// What [`Fold::admit`] would otherwise work out from an event itself, done ahead on the
    /// threads that check signatures, beside the serial one: building the bodies it reads
    /// ([`SignedEvent::event`]) and anything it keeps with [`SignedEvent::prepare`]. An audit
    /// runs it as it decodes, on every core. By default every body is built.
    fn prepares(&self) -> Prepare {
        |e| {
            e.event();
        }
    }
}

/// Work on an event done ahead of the serial fold (see [`Fold::prepares`]).
pub type Prepare = fn(&SignedEvent);

/// What becomes of an event as it arrives, before it goes to the log ([`Rules::arrival`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// To the log: complete, or to be refused there with the log's own reasons.
    Append,
    /// Signed by one of the two parties a step needs, and right but for the other signature:
    /// kept beside the log, with the others of `group` (at most a few each), until
    /// `waiting_for` countersigns.
    Wait { group: String, waiting_for: String },
}

/// How the store reaches a domain: the live fold, which readers share, and fresh ones for
/// audits from entry 0.
pub trait Rules: Send + Sync {
    /// Run `f` with the live fold. The sequencer runs a whole batch (decisions, write, fsync,
    /// publication) inside one call, so readers never see state the log has not made durable.
    fn with_fold(&self, f: &mut dyn FnMut(&mut dyn Fold));
    /// A new, empty fold.
    fn fresh(&self) -> Box<dyn Fold>;
    /// The store could not make a batch durable after folding it (called with the fold still
    /// held): the live state is ahead of the disk and must not be read until [`Rules::reload`]
    /// replaced it.
    fn storage_failed(&self, _cause: &str) {}
    /// Replace the live fold by a fresh one that `f` fills (a replay of what is durable) and
    /// returns true for; on false keep things as they are. Clears a storage failure.
    fn reload(&self, f: &mut dyn FnMut(&mut dyn Fold) -> bool) {
        self.with_fold(&mut |fold| {
            f(fold);
        })
    }
    /// Keep the live fold's state in `kv` (the store's tree for it; at open and whenever the
    /// store reopened its database). Rules whose fold keeps nothing ignore it.
    fn attach(&self, _kv: Arc<dyn Kv>) {}
    /// Why the stored state `kv` is of an older layout than the live fold's (a log not yet
    /// opened since an upgrade), which the fold rebuilds from entry 0 at open without reading
    /// it; None: it is not.
    fn older_layout(&self, _kv: &dyn Kv) -> Option<String> {
        None
    }
    /// A fresh fold (as [`Rules::fresh`]) that keeps its state in `kv`, rebuilt from entry 0:
    /// its first writes clear `kv` (reindex).
    fn rebuild_in(&self, _kv: Arc<dyn Kv>) -> Box<dyn Fold> {
        self.fresh()
    }
    /// Whether `event`, arriving at `now`, goes to the log or waits beside it for a
    /// countersignature (its signatures not yet checked). `Err`: the state cannot be read now
    /// (why), so nothing is decided.
    fn arrival(&self, _event: &SignedEvent, _now: Timestamp) -> Result<Arrival, String> {
        Ok(Arrival::Append)
    }
    /// What the live fold would otherwise work out from an event itself, done by the threads
    /// that check an appended event's signatures ([`Fold::prepares`]). An appended event
    /// arrives with its body built; by default nothing more.
    fn prepares(&self) -> Prepare {
        |_| {}
    }
}

/// No domain: any JSON object with a `type` outside the log's own namespaces.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenRules;

impl Fold for OpenRules {
    fn admit(
        &mut self,
        _: u64,
        _: Timestamp,
        _: &SignedEvent,
        _: &LogState,
    ) -> Result<(), Refusal> {
        Ok(())
    }

    fn applied(&self) -> u64 {
        HOLDS_EVERY_ENTRY
    }

    fn prepares(&self) -> Prepare {
        |_| {}
    }
}

/// What [`Fold::applied`] says of a fold that keeps no state: no entry need be replayed into it.
pub const HOLDS_EVERY_ENTRY: u64 = u64::MAX;

impl Rules for OpenRules {
    fn with_fold(&self, f: &mut dyn FnMut(&mut dyn Fold)) {
        f(&mut OpenRules)
    }
    fn fresh(&self) -> Box<dyn Fold> {
        Box::new(OpenRules)
    }
}

#[derive(Clone, Debug, Default)]
pub struct LogState {
    pub origin: String,
    pub log_key: Option<PublicKey>,
    pub authority: Option<PublicKey>,
    /// The rulebook entry 0 names (None: a bare log, no domain rules).
    pub rules: Option<String>,
    pub keys: HashMap<PublicKey, KeyRecord>,
}

impl LogState {
    /// Whether [`LogState::admit`] reads the body of events of this type: the log's own,
    /// entry 0's `log.genesis` and the key registry's `key.*`.
    pub fn reads_body(event_type: &str) -> bool {
        event_type.starts_with("log.") || event_type.starts_with("key.")
    }

    /// Check the event that would become entry `index` at `time`; on success apply its effect.
    /// On refusal the state is unchanged.
    pub fn admit(
        &mut self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        fold: &mut dyn Fold,
    ) -> Result<(), Refusal> {
        let t = event.event_type();
        if index == 0 {
            self.genesis(event)?;
            if let Err(r) = fold.admit(index, time, event, self) {
                *self = LogState::default();
                return Err(r);
            }
            return Ok(());
        }
        let authority = self.authority.expect("genesis sets the authority");
        match t {
            "log.genesis" => Err(field("event.type", "log.genesis only as entry 0")),
            "key.added" | "key.revoked" | "key.delegated" => {
                let by_authority = event.signers().any(|k| *k == authority);
                // A party key may delegate and revoke device keys of its own holder (checked
                // below, once the event is read); everything else is the authority's.
                if !by_authority && t == "key.added" {
                    return Err(Refusal::NotAuthority {
                        event_type: t.into(),
                        authority: authority.to_string(),
                    });
                }
                self.check_signers(event, time)?;
                // The domain sees the log's own events too (it maps keys to parties) and may
                // refuse them; then the key registry is put back as it was. Each of these
                // events changes one key's record (the one it names): that one is kept.
                let named = match t {
                    "key.added" => key_addition(event.event()).ok().map(|(k, _)| k),
                    "key.revoked" => revocation(event.event()).ok().map(|(k, _)| k),
                    _ => delegation(event.event()).ok().map(|d| d.key),
                };
                let before = named.map(|k| (k, self.keys.get(&k).cloned()));
                match t {
                    "key.added" => self.key_added(index, event)?,
                    "key.revoked" => self.key_revoked(index, time, event, by_authority)?,
                    _ => self.key_delegated(index, time, event)?,
                }
                if let Err(r) = fold.admit(index, time, event, self) {
                    match before {
                        Some((k, Some(rec))) => {
                            self.keys.insert(k, rec);
                        }
                        Some((k, None)) => {
                            self.keys.remove(&k);
                        }
                        None => unreachable!("an applied key event names its key"),
                    }
                    return Err(r);
                }
                Ok(())
            }
            _ if t.starts_with("log.") || t.starts_with("key.") => Err(field(
                "event.type",
                format!("not a reserved type; `{t}` is not one the log knows"),
            )),
            _ => {
                self.check_signers(event, time)?;
                fold.admit(index, time, event, self)
            }
        }
    }

    /// Every signer must be the authority or a registered key not revoked at `time` (and, for
    /// a device key, `time` before its `not_after`).
    pub fn check_signers(&self, event: &SignedEvent, time: Timestamp) -> Result<(), Refusal> {
        for k in event.signers() {
            if Some(*k) == self.authority {
                continue;
            }
            let rec = self
                .keys
                .get(k)
                .ok_or_else(|| Refusal::UnknownKey { key: k.to_string() })?;
            if let Some((eff, _)) = rec.revoked.filter(|(eff, _)| *eff <= time) {
                return Err(Refusal::RevokedKey {
                    key: k.to_string(),
                    effective: eff.to_string(),
                });
            }
            if let Some(d) = rec.delegation.as_ref().filter(|d| d.not_after <= time) {
                return Err(Refusal::ExpiredKey {
                    key: k.to_string(),
                    not_after: d.not_after.to_string(),
                });
            }
            // A device key lapses with the party key that delegated it: a revoked (say
            // stolen) party key leaves no phone signing behind it.
            if let Some(by) = rec.delegation.as_ref().map(|d| d.by) {
                if let Some((eff, _)) = self
                    .keys
                    .get(&by)
                    .and_then(|r| r.revoked)
                    .filter(|(eff, _)| *eff <= time)
                {
                    return Err(Refusal::RevokedKey {
                        key: by.to_string(),
                        effective: eff.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// What a key is: `None` if the log does not know it.
    pub fn kind_of(&self, key: &PublicKey) -> Option<KeyKind> {
        if Some(*key) == self.authority {
            return Some(KeyKind::Authority);
        }
        self.keys.get(key).map(|r| match r.delegation {
            None => KeyKind::Party,
            Some(_) => KeyKind::Device,
        })
    }

    /// The one signer of a delegation or a party's revocation, which must be the authority or
    /// a party key (not a device key) of `holder`.
    fn party_signer(&self, event: &SignedEvent, holder: &str, what: &str) -> Result<(), Refusal> {
        let signers: Vec<&PublicKey> = event.signers().collect();
        let [k] = signers[..] else {
            return Err(Refusal::Signer {
                field: "signatures".into(),
                detail: format!(
                    "{what}: exactly one signature, of the authority or of a party key of {holder} (got {})",
                    signers.len()
                ),
            });
        };
        if Some(*k) == self.authority {
            return Ok(());
        }
        let rec = &self.keys[k]; // check_signers found it registered
        let detail = if rec.delegation.is_some() {
            format!(
                "{what}: signed by {k}, a device key (delegated to {}); only the authority or a party key it added may sign this, so delegations go no deeper than authority → party key → device key",
                rec.holder
            )
        } else if rec.holder != holder {
            format!(
                "{what}: signed by {k}, a party key of {}, not of {holder}",
                rec.holder
            )
        } else {
            return Ok(());
        };
        Err(Refusal::Signer {
            field: "signatures[0]".into(),
            detail,
        })
    }

    fn genesis(&mut self, event: &SignedEvent) -> Result<(), Refusal> {
        let ev = event.event();
        if event.event_type() != "log.genesis" {
            return Err(field("event.type", "log.genesis as entry 0"));
        }
        let origin = str_field(ev, "log")?;
        let log_key = key_field(ev, "log_key")?;
        let authority = key_field(ev, "authority_key")?;
        let signers: Vec<_> = event.signers().collect();
        if signers != [&authority] {
            return Err(Refusal::NotAuthority {
                event_type: "log.genesis".into(),
                authority: authority.to_string(),
            });
        }
        for k in [&log_key, &authority] {
            if k.is_weak() {
                return Err(field(
                    "event.authority_key",
                    "a key that is not weak (small order)",
                ));
            }
        }
        let rules = match ev.get("rules") {
            None => None,
            Some(_) => Some(str_field(ev, "rules")?.to_string()),
        };
        self.origin = origin.to_string();
        self.rules = rules;
        self.log_key = Some(log_key);
        self.authority = Some(authority);
        Ok(())
    }

    fn require_new(&self, key: &PublicKey) -> Result<(), Refusal> {
        if self.keys.contains_key(key) || Some(*key) == self.authority || Some(*key) == self.log_key
        {
            return Err(field(
                "event.key",
                format!("a key not registered yet; {key} already is"),
            ));
        }
        Ok(())
    }

    fn key_added(&mut self, index: u64, event: &SignedEvent) -> Result<(), Refusal> {
        let (key, holder) = key_addition(event.event())?;
        self.require_new(&key)?;
        self.keys.insert(
            key,
            KeyRecord {
                holder: holder.to_string(),
                added_at: index,
                revoked: None,
                delegation: None,
            },
        );
        Ok(())
    }

    fn key_delegated(
        &mut self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
    ) -> Result<(), Refusal> {
        let d = delegation(event.event())?;
        self.party_signer(event, d.holder, "key.delegated")?;
        self.require_new(&d.key)?;
        if d.not_after <= time || d.not_after.unix_millis() > time.unix_millis() + MAX_DELEGATION_MS
        {
            return Err(field(
                "event.not_after",
                format!(
                    "a time after the entry's log time {time} and at most {} days after it; got {}",
                    MAX_DELEGATION_MS / 86_400_000,
                    d.not_after
                ),
            ));
        }
        let by = *event.signers().next().expect("one signer");
        self.keys.insert(
            d.key,
            KeyRecord {
                holder: d.holder.to_string(),
                added_at: index,
                revoked: None,
                delegation: Some(Delegation {
                    by,
                    label: d.label.to_string(),
                    not_after: d.not_after,
                    person: d.person.map(str::to_string),
                }),
            },
        );
        Ok(())
    }

    fn key_revoked(
        &mut self,
        index: u64,
        time: Timestamp,
        event: &SignedEvent,
        by_authority: bool,
    ) -> Result<(), Refusal> {
        let (key, effective) = revocation(event.event())?;
        let not_authority = || Refusal::NotAuthority {
            event_type: "key.revoked".into(),
            authority: self.authority.map(|a| a.to_string()).unwrap_or_default(),
        };
        let rec = match self.keys.get(&key) {
            Some(rec) => rec,
            None if by_authority => {
                return Err(field(
                    "event.key",
                    format!("a registered key; {key} is not one"),
                ))
            }
            None => return Err(not_authority()),
        };
        if !by_authority {
            // A party key revokes only device keys delegated to its own holder.
            if rec.delegation.is_none() {
                return Err(not_authority());
            }
            self.party_signer(event, &rec.holder.clone(), "key.revoked of a device key")?;
            // A party cannot disown what its device signed before (an `effective` in the
            // past, beyond the 5 minutes a client's clock may lag), nor put off a revocation
            // so far that the authority could not revoke the key itself: its revocation takes
            // effect within 5 minutes before the entry's log time to a day after it.
            let t = time.unix_millis();
            let (lo, hi) = (t.saturating_sub(300_000), t + 86_400_000);
            if !(lo..=hi).contains(&effective.unix_millis()) {
                return Err(field(
                    "event.effective",
                    format!(
                        "for a party's revocation of its device key, a time from 5 minutes before the entry's log time {time} to a day after it, got {effective}"
                    ),
                ));
            }
        }
        let rec = self.keys.get_mut(&key).expect("found above");
        if rec.revoked.is_some() {
            return Err(field(
                "event.key",
                format!("a key not yet revoked; {key} already is"),
            ));
        }
        rec.revoked = Some((effective, index));
        Ok(())
    }
}

/// A `key.added` event's key and holder, read as the log reads it (a bundle verifier reads the
/// registry's entries with the same rules).
pub fn key_addition(ev: &serde_json::Map<String, Value>) -> Result<(PublicKey, &str), Refusal> {
    let key = key_field(ev, "key")?;
    let holder = str_field(ev, "holder")?;
    if key.is_weak() {
        return Err(field("event.key", "a key that is not weak (small order)"));
    }
    Ok((key, holder))
}

/// A `key.delegated` event's fields, read as the log reads them.
pub fn delegation(ev: &serde_json::Map<String, Value>) -> Result<DelegatedKey<'_>, Refusal> {
    let key = key_field(ev, "key")?;
    if key.is_weak() {
        return Err(field("event.key", "a key that is not weak (small order)"));
    }
    let holder = str_field(ev, "holder")?;
    let label = str_field(ev, "label")?;
    if label.len() > MAX_LABEL {
        return Err(field(
            "event.label",
            format!("at most {MAX_LABEL} bytes (got {})", label.len()),
        ));
    }
    let not_after = Timestamp::parse(str_field(ev, "not_after")?)
        .map_err(|e| field("event.not_after", e.strip_prefix("expected ").unwrap_or(&e)))?;
    let person = match ev.get("person") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .filter(|p| {
                    p.len() == 64 && p.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                })
                .ok_or_else(|| {
                    field(
                        "event.person",
                        "the id of a registered person: 64 lower-case hex digits",
                    )
                })?,
        ),
    };
    Ok(DelegatedKey {
        key,
        holder,
        label,
        not_after,
        person,
    })
}

/// What a registered key is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// The log's authority (entry 0).
    Authority,
    /// Added by the authority (`key.added`).
    Party,
    /// Delegated (`key.delegated`).
    Device,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Authority => "authority",
            KeyKind::Party => "party",
            KeyKind::Device => "device",
        }
    }
}

/// A `key.revoked` event's key and effective time, read as the log reads it: the time in UTC
/// (`Timestamp::parse`), so an offset such as `+08:00` is refused at acceptance and wherever
/// the entry is checked again.
pub fn revocation(ev: &serde_json::Map<String, Value>) -> Result<(PublicKey, Timestamp), Refusal> {
    let key = key_field(ev, "key")?;
    let effective = Timestamp::parse(str_field(ev, "effective")?).map_err(|e| {
        // The parse error reads "expected ..." already.
        field("event.effective", e.strip_prefix("expected ").unwrap_or(&e))
    })?;
    str_field(ev, "reason")?;
    Ok((key, effective))
}

fn str_field<'a>(ev: &'a serde_json::Map<String, Value>, name: &str) -> Result<&'a str, Refusal> {
    ev.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| field(&format!("event.{name}"), "a non-empty string"))
}

fn key_field(ev: &serde_json::Map<String, Value>, name: &str) -> Result<PublicKey, Refusal> {
    let s = ev.get(name).and_then(Value::as_str).ok_or_else(|| {
        field(
            &format!("event.{name}"),
            "base64 of a 32-byte Ed25519 public key",
        )
    })?;
    PublicKey::parse(&format!("event.{name}"), s)
        .map_err(|e| field(&format!("event.{name}"), e.to_string()))
}

/// The genesis event body for a new log; `rules` names the domain's rulebook (None: bare).
pub fn genesis_event(
    origin: &str,
    log_key: &PublicKey,
    authority: &PublicKey,
    rules: Option<&str>,
) -> Value {
    let mut g = serde_json::json!({
        "type": "log.genesis",
        "log": origin,
        "log_key": log_key.to_string(),
        "authority_key": authority.to_string(),
    });
    if let Some(r) = rules {
        g["rules"] = r.into();
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use serde_json::json;

    fn k(s: u8) -> SigningKey {
        SigningKey::from_bytes(&[s; 32])
    }
    fn pk(s: u8) -> PublicKey {
        PublicKey(k(s).verifying_key())
    }
    fn t(ms: u64) -> Timestamp {
        Timestamp::from_unix_millis(ms)
    }

    fn started() -> LogState {
        let mut st = LogState::default();
        let g = SignedEvent::sign(genesis_event("o", &pk(1), &pk(2), None), &[&k(2)]).unwrap();
        st.admit(0, t(0), &g, &mut OpenRules).unwrap();
        st
    }

    #[test]
    fn keys_sign_only_between_registration_and_revocation() {
        let mut st = started();
        let note = SignedEvent::sign(json!({"type": "note"}), &[&k(5)]).unwrap();
        assert_eq!(
            st.admit(1, t(10), &note, &mut OpenRules),
            Err(Refusal::UnknownKey {
                key: pk(5).to_string()
            })
        );
        let add = SignedEvent::sign(
            json!({"type": "key.added", "key": pk(5).to_string(), "holder": "plant"}),
            &[&k(2)],
        )
        .unwrap();
        st.admit(1, t(10), &add, &mut OpenRules).unwrap();
        st.admit(2, t(20), &note, &mut OpenRules).unwrap();
        let rev = SignedEvent::sign(
            json!({"type": "key.revoked", "key": pk(5).to_string(), "effective": "1970-01-01T00:00:00.100Z", "reason": "lost"}),
            &[&k(2)],
        )
        .unwrap();
        st.admit(3, t(30), &rev, &mut OpenRules).unwrap();
        assert!(
            st.admit(4, t(99), &note, &mut OpenRules).is_ok(),
            "before the effective time the key still signs"
        );
        assert!(matches!(
            st.admit(5, t(100), &note, &mut OpenRules),
            Err(Refusal::RevokedKey { .. })
        ));
    }

    /// A fold that refuses every key event after the first `allow`.
    struct RefusesKeys {
        allow: usize,
    }

    impl Fold for RefusesKeys {
        fn admit(
            &mut self,
            _: u64,
            _: Timestamp,
            e: &SignedEvent,
            _: &LogState,
        ) -> Result<(), Refusal> {
            if e.event_type().starts_with("key.") {
                if self.allow == 0 {
                    return Err(field("event.holder", "a party the domain knows"));
                }
                self.allow -= 1;
            }
            Ok(())
        }
    }

    #[test]
    fn a_key_event_the_fold_refuses_leaves_the_key_registry_as_it_was() {
        let mut st = started();
        let add = |s: u8| {
            SignedEvent::sign(
                json!({"type": "key.added", "key": pk(s).to_string(), "holder": "plant"}),
                &[&k(2)],
            )
            .unwrap()
        };
        st.admit(1, t(10), &add(5), &mut RefusesKeys { allow: 1 })
            .unwrap();
        let before = st.keys.clone();
        let mut fold = RefusesKeys { allow: 0 };
        // A key added, a key revoked, a device key delegated: each refused by the fold.
        assert!(st.admit(2, t(20), &add(6), &mut fold).is_err());
        let rev = SignedEvent::sign(
            json!({"type": "key.revoked", "key": pk(5).to_string(), "effective": "1970-01-01T00:00:00.100Z", "reason": "lost"}),
            &[&k(2)],
        )
        .unwrap();
        assert!(st.admit(2, t(20), &rev, &mut fold).is_err());
        let delegate = SignedEvent::sign(
            json!({"type": "key.delegated", "key": pk(7).to_string(), "holder": "plant",
                   "label": "phone", "not_after": "1970-01-02T00:00:00Z"}),
            &[&k(5)],
        )
        .unwrap();
        assert!(st.admit(2, t(20), &delegate, &mut fold).is_err());
        assert_eq!(st.keys, before);
        // The same events pass once the fold takes them.
        st.admit(2, t(20), &rev, &mut OpenRules).unwrap();
        assert!(st.keys[&pk(5)].revoked.is_some());
    }

    #[test]
    fn a_revocation_with_an_offset_is_refused_and_the_key_still_registered() {
        let mut st = started();
        let add = SignedEvent::sign(
            json!({"type": "key.added", "key": pk(5).to_string(), "holder": "plant"}),
            &[&k(2)],
        )
        .unwrap();
        st.admit(1, t(10), &add, &mut OpenRules).unwrap();
        let rev = SignedEvent::sign(
            json!({"type": "key.revoked", "key": pk(5).to_string(), "effective": "1970-01-01T08:00:00+08:00", "reason": "lost"}),
            &[&k(2)],
        )
        .unwrap();
        match st.admit(2, t(20), &rev, &mut OpenRules) {
            Err(Refusal::Field { field, expected }) => {
                assert_eq!(field, "event.effective");
                assert!(expected.contains("RFC 3339 UTC"), "{expected}");
            }
            other => panic!("expected a refusal of event.effective, got {other:?}"),
        }
        assert_eq!(st.keys[&pk(5)].revoked, None, "the refusal changed nothing");
    }

    #[test]
    fn only_the_authority_registers_keys() {
        let mut st = started();
        let add = SignedEvent::sign(
            json!({"type": "key.added", "key": pk(6).to_string(), "holder": "x"}),
            &[&k(6)],
        )
        .unwrap();
        assert!(matches!(
            st.admit(1, t(1), &add, &mut OpenRules),
            Err(Refusal::NotAuthority { .. })
        ));
        assert!(st.keys.is_empty());
    }

    fn added(st: &mut LogState, index: u64, key: u8, holder: &str) {
        let add = SignedEvent::sign(
            json!({"type": "key.added", "key": pk(key).to_string(), "holder": holder}),
            &[&k(2)],
        )
        .unwrap();
        st.admit(index, t(index), &add, &mut OpenRules).unwrap();
    }

    fn delegate(device: u8, holder: &str, not_after: &str, by: u8) -> SignedEvent {
        SignedEvent::sign(
            json!({"type": "key.delegated", "key": pk(device).to_string(), "holder": holder,
                   "label": "driver 17", "not_after": not_after}),
            &[&k(by)],
        )
        .unwrap()
    }

    /// Party keys 5 (plant) and 6 (hauler); device key 7 delegated by 5 to the plant.
    fn with_phone() -> LogState {
        let mut st = started();
        added(&mut st, 1, 5, "plant");
        added(&mut st, 2, 6, "hauler");
        let d = delegate(7, "plant", "1970-01-02T00:00:00Z", 5);
        st.admit(3, t(3), &d, &mut OpenRules).unwrap();
        st
    }

    fn expect_field(r: Result<(), Refusal>, want: &str, says: &str) {
        match r {
            Err(Refusal::Field { field, expected }) => {
                assert_eq!(field, want);
                assert!(expected.contains(says), "{expected}");
            }
            other => panic!("expected a refusal of {want}, got {other:?}"),
        }
    }

    fn expect_signer(r: Result<(), Refusal>, says: &str) {
        match r {
            Err(e @ Refusal::Signer { .. }) => assert!(e.to_string().contains(says), "{e}"),
            other => panic!("expected a signer refusal saying {says:?}, got {other:?}"),
        }
    }

    #[test]
    fn a_party_key_delegates_a_device_key_that_signs_until_not_after() {
        let mut st = started();
        added(&mut st, 1, 5, "plant");
        let d = delegate(7, "plant", "1970-01-01T00:00:01Z", 5);
        st.admit(2, t(20), &d, &mut OpenRules).unwrap();
        let rec = &st.keys[&pk(7)];
        assert_eq!(rec.holder, "plant");
        let del = rec.delegation.as_ref().unwrap();
        assert_eq!((del.by, del.label.as_str()), (pk(5), "driver 17"));
        assert_eq!(st.kind_of(&pk(7)), Some(KeyKind::Device));
        assert_eq!(st.kind_of(&pk(5)), Some(KeyKind::Party));
        let note = SignedEvent::sign(json!({"type": "note"}), &[&k(7)]).unwrap();
        st.admit(3, t(999), &note, &mut OpenRules).unwrap();
        assert_eq!(
            st.admit(4, t(1000), &note, &mut OpenRules),
            Err(Refusal::ExpiredKey {
                key: pk(7).to_string(),
                not_after: "1970-01-01T00:00:01.000Z".into()
            })
        );
    }

    #[test]
    fn a_delegation_is_refused_for_what_it_gets_wrong_and_changes_nothing() {
        let mut st = with_phone();
        let before = st.keys.clone();
        // Another holder's party key.
        expect_signer(
            st.admit(
                4,
                t(4),
                &delegate(8, "plant", "1970-01-02T00:00:00Z", 6),
                &mut OpenRules,
            ),
            "a party key of hauler, not of plant",
        );
        // A device key delegates nothing.
        expect_signer(
            st.admit(
                4,
                t(4),
                &delegate(8, "plant", "1970-01-02T00:00:00Z", 7),
                &mut OpenRules,
            ),
            "a device key",
        );
        // Registered keys, the authority's and the log's.
        for known in [5, 7, 2, 1] {
            expect_field(
                st.admit(
                    4,
                    t(4),
                    &delegate(known, "plant", "1970-01-02T00:00:00Z", 5),
                    &mut OpenRules,
                ),
                "event.key",
                "a key not registered yet",
            );
        }
        // not_after at the entry's time, or not strict UTC.
        expect_field(
            st.admit(
                4,
                t(1000),
                &delegate(8, "plant", "1970-01-01T00:00:01Z", 5),
                &mut OpenRules,
            ),
            "event.not_after",
            "after the entry's log time",
        );
        expect_field(
            st.admit(
                4,
                t(4),
                &delegate(8, "plant", "1970-01-02T08:00:00+08:00", 5),
                &mut OpenRules,
            ),
            "event.not_after",
            "RFC 3339 UTC",
        );
        // A label too long, a person that is not an id.
        let long = SignedEvent::sign(
            json!({"type": "key.delegated", "key": pk(8).to_string(), "holder": "plant",
                   "label": "x".repeat(65), "not_after": "1970-01-02T00:00:00Z"}),
            &[&k(5)],
        )
        .unwrap();
        expect_field(
            st.admit(4, t(4), &long, &mut OpenRules),
            "event.label",
            "at most 64 bytes",
        );
        let person = SignedEvent::sign(
            json!({"type": "key.delegated", "key": pk(8).to_string(), "holder": "plant",
                   "label": "x", "not_after": "1970-01-02T00:00:00Z", "person": "ABC"}),
            &[&k(5)],
        )
        .unwrap();
        expect_field(
            st.admit(4, t(4), &person, &mut OpenRules),
            "event.person",
            "64 lower-case hex",
        );
        assert_eq!(st.keys, before, "no refusal changed the registry");
        // The authority delegates for anyone.
        st.admit(
            4,
            t(4),
            &delegate(8, "hauler", "1970-01-02T00:00:00Z", 2),
            &mut OpenRules,
        )
        .unwrap();
    }

    #[test]
    fn a_party_key_revokes_its_own_device_keys_only() {
        let mut st = with_phone();
        let revoke = |key: u8, by: u8| {
            SignedEvent::sign(
                json!({"type": "key.revoked", "key": pk(key).to_string(),
                       "effective": "1970-01-01T00:00:00.010Z", "reason": "phone lost"}),
                &[&k(by)],
            )
            .unwrap()
        };
        // Another party's key, a party key, the device key itself: refused.
        expect_signer(
            st.admit(4, t(4), &revoke(7, 6), &mut OpenRules),
            "not of plant",
        );
        assert!(matches!(
            st.admit(4, t(4), &revoke(6, 5), &mut OpenRules),
            Err(Refusal::NotAuthority { .. })
        ));
        expect_signer(
            st.admit(4, t(4), &revoke(7, 7), &mut OpenRules),
            "a device key",
        );
        st.admit(4, t(4), &revoke(7, 5), &mut OpenRules).unwrap();
        let note = SignedEvent::sign(json!({"type": "note"}), &[&k(7)]).unwrap();
        assert!(matches!(
            st.admit(5, t(10), &note, &mut OpenRules),
            Err(Refusal::RevokedKey { .. })
        ));
    }
    #[test]
    fn a_partys_revocation_cannot_reach_back_and_a_device_lapses_with_its_delegating_key() {
        let mut st = with_phone();
        let hour = 3_600_000;
        let revoke = |eff: &str| {
            SignedEvent::sign(
                json!({"type": "key.revoked", "key": pk(7).to_string(),
                       "effective": eff, "reason": "phone lost"}),
                &[&k(5)],
            )
            .unwrap()
        };
        // Disowning what the phone signed an hour ago, or putting the revocation off a week.
        expect_field(
            st.admit(4, t(hour), &revoke("1970-01-01T00:00:00Z"), &mut OpenRules),
            "event.effective",
            "5 minutes before",
        );
        expect_field(
            st.admit(4, t(hour), &revoke("1970-01-09T00:00:00Z"), &mut OpenRules),
            "event.effective",
            "a day after",
        );
        // A delegation for more than five years.
        expect_field(
            st.admit(
                4,
                t(hour),
                &delegate(8, "plant", "1975-06-01T00:00:00Z", 5),
                &mut OpenRules,
            ),
            "event.not_after",
            "at most 1830 days",
        );
        // The phone signs until the authority revokes the plant's own key; then it stops too.
        let note = SignedEvent::sign(json!({"type": "note"}), &[&k(7)]).unwrap();
        st.admit(4, t(hour), &note, &mut OpenRules).unwrap();
        let stolen = SignedEvent::sign(
            json!({"type": "key.revoked", "key": pk(5).to_string(),
                   "effective": "1970-01-01T02:00:00Z", "reason": "stolen"}),
            &[&k(2)],
        )
        .unwrap();
        st.admit(5, t(hour + 1), &stolen, &mut OpenRules).unwrap();
        assert_eq!(
            st.admit(6, t(3 * hour), &note, &mut OpenRules),
            Err(Refusal::RevokedKey {
                key: pk(5).to_string(),
                effective: "1970-01-01T02:00:00.000Z".to_string()
            })
        );
    }
}
