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
//!   may no longer carry its signature
//!
//! Every other event is for the domain to judge: [`Fold`] is the seam where it plugs in, and
//! [`Rules`] is how the store reaches a live fold (and fresh ones for audits).

use super::event::{PublicKey, SignedEvent};
use super::time::Timestamp;
use serde_json::Value;
use std::collections::HashMap;
use thiserror::Error;

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
}

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
}

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
            "key.added" | "key.revoked" => {
                if !event.signers().any(|k| *k == authority) {
                    return Err(Refusal::NotAuthority {
                        event_type: t.into(),
                        authority: authority.to_string(),
                    });
                }
                self.check_signers(event, time)?;
                // The domain sees the log's own events too (it maps keys to parties) and may
                // refuse them; then the key registry is put back as it was.
                let saved = self.keys.clone();
                if t == "key.added" {
                    self.key_added(index, event)?;
                } else {
                    self.key_revoked(index, event)?;
                }
                if let Err(r) = fold.admit(index, time, event, self) {
                    self.keys = saved;
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

    /// Every signer must be the authority or a registered key not revoked at `time`.
    pub fn check_signers(&self, event: &SignedEvent, time: Timestamp) -> Result<(), Refusal> {
        for k in event.signers() {
            if Some(*k) == self.authority {
                continue;
            }
            match self.keys.get(k) {
                None => return Err(Refusal::UnknownKey { key: k.to_string() }),
                Some(KeyRecord {
                    revoked: Some((eff, _)),
                    ..
                }) if *eff <= time => {
                    return Err(Refusal::RevokedKey {
                        key: k.to_string(),
                        effective: eff.to_string(),
                    })
                }
                Some(_) => {}
            }
        }
        Ok(())
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

    fn key_added(&mut self, index: u64, event: &SignedEvent) -> Result<(), Refusal> {
        let (key, holder) = key_addition(event.event())?;
        if self.keys.contains_key(&key) || Some(key) == self.authority || Some(key) == self.log_key
        {
            return Err(field(
                "event.key",
                format!("a key not registered yet; {key} already is"),
            ));
        }
        self.keys.insert(
            key,
            KeyRecord {
                holder: holder.to_string(),
                added_at: index,
                revoked: None,
            },
        );
        Ok(())
    }

    fn key_revoked(&mut self, index: u64, event: &SignedEvent) -> Result<(), Refusal> {
        let (key, effective) = revocation(event.event())?;
        let rec = self
            .keys
            .get_mut(&key)
            .ok_or_else(|| field("event.key", format!("a registered key; {key} is not one")))?;
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
}
