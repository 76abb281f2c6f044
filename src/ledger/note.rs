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
    /// A line of the known key (its name and key id) whose signature does not verify: the
    /// whole note is rejected (C2SP signed-note).
    #[error("a signature line of {0} does not verify: the note is rejected")]
    BadSignature(String),
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

/// The most signature lines a note may carry (C2SP signed-note: verifiers should set a limit and
/// must accept at least 16; Go's `note.Open` sets 100).
pub const MAX_SIGNATURES: usize = 100;

/// Split a note into its text (ending in a newline) and its signature lines (without their
/// newlines): the text ends at the last blank line. A note with an ASCII control character
/// other than newline, or with more than [`MAX_SIGNATURES`] lines, is refused.
pub fn split_note(note: &str) -> Result<(&str, Vec<&str>), NoteError> {
    if let Some(c) = note.chars().find(|c| *c < ' ' && *c != '\n') {
        return Err(NoteError::Malformed(format!(
            "control character U+{:04X} (only newline is allowed)",
            c as u32
        )));
    }
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| NoteError::Malformed("no blank line between text and signatures".into()))?;
    let (body, sigs) = (&note[..split + 1], &note[split + 2..]);
    if !sigs.ends_with('\n') || sigs.len() < 2 {
        return Err(NoteError::Malformed(
            "signature block must be lines ending in a newline".into(),
        ));
    }
    let lines: Vec<&str> = sigs[..sigs.len() - 1].split('\n').collect();
    if lines.len() > MAX_SIGNATURES {
        return Err(NoteError::Malformed(format!(
            "{} signature lines, at most {MAX_SIGNATURES} are accepted",
            lines.len()
        )));
    }
    Ok((body, lines))
}

/// One signature line `— <name> <base64(key id || signature)>`: its key name and decoded bytes
/// (at least 5: a key id and a signature). A line that is not of that form is malformed.
pub(crate) fn parse_signature_line(line: &str) -> Result<(&str, Vec<u8>), String> {
    let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(|| {
        format!("signature line {line:?} does not start with an em dash and a space")
    })?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or_else(|| format!("signature line {line:?} has no key name"))?;
    check_name(name).map_err(|e| format!("signature line {line:?}: key {e}"))?;
    let blob = B64
        .decode(b64)
        .map_err(|_| format!("signature line {line:?} is not base64"))?;
    if blob.len() < 5 {
        return Err(format!(
            "signature line {line:?} holds {} bytes, not a key id and a signature",
            blob.len()
        ));
    }
    Ok((name, blob))
}

/// Open a note with `verifier`: return its text if a signature line of that key (same name and
/// key id) verifies. As C2SP signed-note says, lines of unknown keys are ignored, but a line of
/// the known key whose signature does not verify rejects the whole note, wherever it is, and
/// so does a second line of that key (as Go's `note.Open` does).
pub fn open_note<'a>(note: &'a str, verifier: &NoteVerifier) -> Result<&'a str, NoteError> {
    let (body, lines) = split_note(note)?;
    let want_id = verifier.id();
    let mut verified = false;
    for line in lines {
        let (name, blob) = parse_signature_line(line).map_err(NoteError::Malformed)?;
        if name != verifier.name || blob[..4] != want_id {
            continue;
        }
        let valid = <[u8; 64]>::try_from(&blob[4..]).is_ok_and(|sig| {
            verifier
                .key
                .verify_strict(body.as_bytes(), &Signature::from_bytes(&sig))
                .is_ok()
        });
        if !valid {
            return Err(NoteError::BadSignature(verifier.to_string()));
        }
        if verified {
            return Err(NoteError::Malformed(format!(
                "two signature lines of {}",
                verifier.name
            )));
        }
        verified = true;
    }
    if verified {
        Ok(body)
    } else {
        Err(NoteError::NotSigned(verifier.to_string()))
    }
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
        // Signed by the log's key, but the body names another origin.
        let elsewhere = sign_note(
            &Checkpoint {
                origin: "other.example/log".into(),
                ..cp.clone()
            }
            .body(),
            &v.name,
            &key,
        );
        assert_eq!(
            Checkpoint::open(&elsewhere, &v),
            Err(NoteError::BadCheckpoint(
                "origin \"other.example/log\" is not the log \"kunshan.wasteledger/log\"".into()
            ))
        );
    }

    /// A signature line of the known key (its name and key id) over other bytes.
    fn bad_line(v: &NoteVerifier) -> String {
        let mut blob = v.id().to_vec();
        blob.extend_from_slice(&[0x5a; 64]);
        format!("{SIG_PREFIX}{} {}\n", v.name, B64.encode(blob))
    }

    #[test]
    fn a_known_keys_line_that_does_not_verify_rejects_the_note_first_or_last() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let v = NoteVerifier::new("kunshan.wasteledger/log", key.verifying_key()).unwrap();
        let cp = Checkpoint {
            origin: v.name.clone(),
            size: 7,
            root: [1; 32],
        };
        let note = cp.sign(&key);
        let (body, good) = note.split_once("\n\n").unwrap();
        let bad = bad_line(&v);
        let first = format!("{body}\n\n{bad}{good}");
        let last = format!("{note}{bad}");
        for n in [&first, &last] {
            assert_eq!(
                Checkpoint::open(n, &v),
                Err(NoteError::BadSignature(v.to_string())),
                "{n}"
            );
        }
        // A signature of the right length but by another key, under the log's name and id.
        let other = SigningKey::from_bytes(&[4; 32]);
        let forged = other.sign(cp.body().as_bytes());
        let mut blob = v.id().to_vec();
        blob.extend_from_slice(&forged.to_bytes());
        let wrong = format!("{note}{SIG_PREFIX}{} {}\n", v.name, B64.encode(blob));
        assert!(matches!(
            Checkpoint::open(&wrong, &v),
            Err(NoteError::BadSignature(_))
        ));
        // The same valid line twice: refused (Go's note.Open does too).
        let twice = format!("{note}{good}");
        assert!(matches!(
            Checkpoint::open(&twice, &v),
            Err(NoteError::Malformed(m)) if m.contains("two signature lines")
        ));
        // Lines that share only the name, or only the key id, are of unknown keys: ignored.
        let mut only_id = v.id().to_vec();
        only_id.extend_from_slice(&[0x5a; 64]);
        let stranger = format!("{note}{SIG_PREFIX}other.example {}\n", B64.encode(&only_id));
        assert_eq!(Checkpoint::open(&stranger, &v), Ok(cp.clone()));
        let mut only_name = vec![0, 0, 0, 0];
        only_name.extend_from_slice(&[0x5a; 64]);
        let namesake = format!("{note}{SIG_PREFIX}{} {}\n", v.name, B64.encode(&only_name));
        assert_eq!(Checkpoint::open(&namesake, &v), Ok(cp));
    }

    #[test]
    fn control_characters_malformed_lines_and_too_many_signatures_are_refused() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let v = NoteVerifier::new("example.com/log", key.verifying_key()).unwrap();
        let note = sign_note("hello\tworld\n", &v.name, &key);
        assert!(matches!(
            open_note(&note, &v),
            Err(NoteError::Malformed(m)) if m.contains("U+0009")
        ));
        let crlf = sign_note("hello\r\n", &v.name, &key);
        assert!(open_note(&crlf, &v).is_err());
        let note = sign_note("hello\n", &v.name, &key);
        assert_eq!(open_note(&note, &v), Ok("hello\n"));
        for line in [
            "— example.com/log AAAA\n",           // 3 bytes: no key id and signature
            "— example.com/log\n",                // no signature
            "- example.com/log AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", // not an em dash
            "— a+b AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", // a name with '+'
            "— example.com/log not-base64!\n",
        ] {
            assert!(
                matches!(open_note(&format!("{note}{line}"), &v), Err(NoteError::Malformed(_))),
                "{line}"
            );
        }
        // 16 signature lines must be accepted; more than MAX_SIGNATURES are refused.
        let other = sign_note(
            "hello\n",
            "witness.example",
            &SigningKey::from_bytes(&[4; 32]),
        );
        let other_line = other.rsplit("\n\n").next().unwrap();
        let sixteen = format!("{note}{}", other_line.repeat(15));
        assert_eq!(open_note(&sixteen, &v), Ok("hello\n"));
        let many = format!("{note}{}", other_line.repeat(MAX_SIGNATURES));
        assert!(matches!(
            open_note(&many, &v),
            Err(NoteError::Malformed(m)) if m.contains("at most 100")
        ));
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
