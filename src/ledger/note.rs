//! C2SP signed notes and tlog checkpoints, with Ed25519 keys (signature type 0x01).
//!
//! Checkpoint body: `<origin>\n<decimal size>\n<base64 root>\n`, no extension lines.
//! Signature line: `— <name> <base64(key id || signature)>`, key id = SHA-256(name || 0x0A ||
//! 0x01 || public key)[..4]. Verifier key: `<name>+<hex key id>+<base64(0x01 || public key)>`.

use super::merkle::Hash;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;
use thiserror::Error;

const ED25519_ALG: u8 = 0x01;
const SIG_PREFIX: &str = "\u{2014} ";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum NoteError {
    #[error(
        "verifier key: expected <name>+<8 hex digit key id>+<base64(0x01 || 32-byte key)>, {0}"
    )]
    BadVerifierKey(String),
    #[error("note: {0}")]
    Malformed(String),
    #[error("checkpoint: {0}")]
    BadCheckpoint(String),
    #[error("note carries no valid signature by {0}")]
    NotSigned(String),
}

/// Key id: the first 4 bytes of SHA-256(name || "\n" || 0x01 || public key).
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    typed_key_id(name, ED25519_ALG, key)
}

/// Key id of a key of signature type `alg` (0x01 note signatures, 0x04 cosignatures).
pub(crate) fn typed_key_id(name: &str, alg: u8, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', alg]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// A verifier key string `<name>+<hex key id>+<base64(alg || 32-byte key)>` of type `alg`:
/// its name and key, the id checked. Errors say what is wrong (`what` names the key type).
pub(crate) fn parse_typed_vkey(
    s: &str,
    alg: u8,
    what: &str,
) -> Result<(String, VerifyingKey), String> {
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("it does not have three '+'-separated parts".into());
    };
    let id: [u8; 4] = hex::decode(id_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the key id is not 8 hex digits")?;
    let raw = B64.decode(key_b64).map_err(|_| "the key is not base64")?;
    if raw.len() != 33 || raw[0] != alg {
        return Err(format!(
            "the key is not 0x{alg:02x} followed by 32 bytes ({what})"
        ));
    }
    let key = VerifyingKey::from_bytes(raw[1..].try_into().expect("length checked"))
        .map_err(|_| "the key is not a valid Ed25519 point")?;
    check_name(name)?;
    if typed_key_id(name, alg, &key) != id {
        return Err("the key id does not match the name and key".into());
    }
    Ok((name.to_string(), key))
}

/// The verifier key string of `name` and `key` of type `alg`.
pub(crate) fn format_typed_vkey(name: &str, alg: u8, key: &VerifyingKey) -> String {
    let mut raw = vec![alg];
    raw.extend_from_slice(key.as_bytes());
    format!(
        "{name}+{}+{}",
        hex::encode(typed_key_id(name, alg, key)),
        B64.encode(raw)
    )
}

pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('+')
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A key name as verifier keys may carry it, or why not.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(format!("name {name:?} is empty or has '+' or spaces"))
    }
}

/// A note verifier: a name and an Ed25519 public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    pub name: String,
    pub key: VerifyingKey,
}

impl NoteVerifier {
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        check_name(name).map_err(NoteError::BadVerifierKey)?;
        Ok(NoteVerifier {
            name: name.to_string(),
            key,
        })
    }

    pub fn id(&self) -> [u8; 4] {
        key_id(&self.name, &self.key)
    }

    pub fn parse(s: &str) -> Result<Self, NoteError> {
        let (name, key) = parse_typed_vkey(s.trim_end(), ED25519_ALG, "Ed25519")
            .map_err(NoteError::BadVerifierKey)?;
        Ok(NoteVerifier { name, key })
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_typed_vkey(&self.name, ED25519_ALG, &self.key))
    }
}

/// Sign a note body (it must end in a newline) and return the whole note.
pub fn sign_note(body: &str, name: &str, key: &SigningKey) -> String {
    assert!(body.ends_with('\n'), "note body must end in a newline");
    assert!(
        valid_name(name),
        "key name {name:?} must be non-empty, without '+' or spaces"
    );
    let sig = key.sign(body.as_bytes());
    let mut blob = key_id(name, &key.verifying_key()).to_vec();
    blob.extend_from_slice(&sig.to_bytes());
    format!("{body}\n{SIG_PREFIX}{name} {}\n", B64.encode(blob))
}

/// Split a note into its body and signature lines, and return the body if one signature line
/// verifies under `verifier`. Lines from unknown keys are ignored, as the spec requires.
pub fn open_note<'a>(note: &'a str, verifier: &NoteVerifier) -> Result<&'a str, NoteError> {
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| NoteError::Malformed("no blank line between text and signatures".into()))?;
    let (body, sigs) = (&note[..split + 1], &note[split + 2..]);
    if !sigs.ends_with('\n') || sigs.len() < 2 {
        return Err(NoteError::Malformed(
            "signature block must be lines ending in a newline".into(),
        ));
    }
    let want_id = verifier.id();
    for line in sigs[..sigs.len() - 1].split('\n') {
        let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(|| {
            NoteError::Malformed(format!(
                "signature line {line:?} does not start with an em dash"
            ))
        })?;
        let (name, b64) = rest.split_once(' ').ok_or_else(|| {
            NoteError::Malformed(format!("signature line {line:?} has no key name"))
        })?;
        let Ok(blob) = B64.decode(b64) else {
            return Err(NoteError::Malformed(format!(
                "signature line {line:?} is not base64"
            )));
        };
        if name != verifier.name || blob.len() < 4 || blob[..4] != want_id {
            continue;
        }
        let Ok(sig) = <[u8; 64]>::try_from(&blob[4..]) else {
            continue;
        };
        if verifier
            .key
            .verify_strict(body.as_bytes(), &Signature::from_bytes(&sig))
            .is_ok()
        {
            return Ok(body);
        }
    }
    Err(NoteError::NotSigned(verifier.to_string()))
}

/// A tlog checkpoint: which log, how many entries, and the tree head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    pub fn sign(&self, key: &SigningKey) -> String {
        sign_note(&self.body(), &self.origin, key)
    }

    pub fn parse_body(body: &str) -> Result<Self, NoteError> {
        let bad = |s: &str| NoteError::BadCheckpoint(s.to_string());
        let lines: Vec<&str> = body
            .strip_suffix('\n')
            .ok_or_else(|| bad("body must end in a newline"))?
            .split('\n')
            .collect();
        if lines.len() != 3 {
            return Err(bad(
                "expected exactly three lines: origin, size, root hash (no extension lines)",
            ));
        }
        let origin = lines[0];
        if origin.is_empty() {
            return Err(bad("origin line is empty"));
        }
        let size: u64 = lines[1]
            .parse()
            .ok()
            .filter(|_| lines[1].bytes().all(|b| b.is_ascii_digit()))
            .filter(|_| lines[1] == "0" || !lines[1].starts_with('0'))
            .ok_or_else(|| bad("size line is not a decimal number without leading zeros"))?;
        let root: Hash = B64
            .decode(lines[2])
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("root line is not base64 of 32 bytes"))?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }

    /// Verify a signed checkpoint note with the log's verifier key; the origin must be its name.
    pub fn open(note: &str, log: &NoteVerifier) -> Result<Self, NoteError> {
        let body = open_note(note, log)?;
        let cp = Self::parse_body(body)?;
        if cp.origin != log.name {
            return Err(NoteError::BadCheckpoint(format!(
                "origin {:?} is not the log {:?}",
                cp.origin, log.name
            )));
        }
        Ok(cp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_signs_and_verifies_and_ignores_unknown_signers() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let v = NoteVerifier::new("kunshan.wasteledger/log", key.verifying_key()).unwrap();
        let cp = Checkpoint {
            origin: v.name.clone(),
            size: 12345,
            root: [0xab; 32],
        };
        let note = cp.sign(&key);
        assert!(note.starts_with("kunshan.wasteledger/log\n12345\n"));
        assert_eq!(Checkpoint::open(&note, &v).unwrap(), cp);
        // A cosignature line from a key we do not know does not disturb the check.
        let other = SigningKey::from_bytes(&[4; 32]);
        let extra = sign_note(&cp.body(), "witness.example", &other);
        let both = format!("{note}{}", extra.rsplit("\n\n").next().unwrap());
        assert_eq!(Checkpoint::open(&both, &v).unwrap(), cp);
        // Signed by another key under the same name: refused.
        let forged = Checkpoint {
            size: 12346,
            ..cp.clone()
        }
        .sign(&other);
        assert!(matches!(
            Checkpoint::open(&forged, &v),
            Err(NoteError::NotSigned(_))
        ));
        // One changed byte in the body: refused.
        let tampered = note.replacen("12345", "12344", 1);
        assert!(Checkpoint::open(&tampered, &v).is_err());
    }

    #[test]
    fn verifier_key_round_trips_and_checks_its_id() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let v = NoteVerifier::new("example.com/log", key.verifying_key()).unwrap();
        let s = v.to_string();
        assert_eq!(NoteVerifier::parse(&s).unwrap(), v);
        let wrong_id = format!("example.com/log+00000000+{}", s.rsplit('+').next().unwrap());
        assert!(NoteVerifier::parse(&wrong_id)
            .unwrap_err()
            .to_string()
            .contains("key id"));
    }

    #[test]
    fn extension_lines_and_leading_zeros_are_refused() {
        assert!(Checkpoint::parse_body(
            "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next\n"
        )
        .is_err());
        assert!(
            Checkpoint::parse_body("o\n01\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
                .is_err()
        );
        assert!(
            Checkpoint::parse_body("o\n+1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
                .is_err()
        );
        assert!(
            Checkpoint::parse_body("o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").is_ok()
        );
    }
}
