//! C2SP tlog-cosignature, Ed25519 (signature type 0x04): a witness's statement that, as of a
//! time, the checkpoint is the largest consistent tree head it has seen for that log.
//!
//! - Verifier key: `<name>+<hex key id>+<base64(0x04 || 32-byte public key)>`,
//!   key id = SHA-256(name || 0x0A || 0x04 || public key)[..4].
//! - Signed message: `cosignature/v1\ntime <unix seconds>\n` + the checkpoint body.
//! - Signature line: `— <name> <base64(key id || u64 big-endian time || 64-byte signature)>`.
//!
//! A cosigned checkpoint is the log's signed note with the witnesses' lines appended. Lines from
//! keys a verifier does not know are ignored, as signed-note requires.

pub use super::note::split_note;
use super::note::{
    check_name, format_typed_vkey, parse_signature_line, parse_typed_vkey, typed_key_id,
    valid_name, Checkpoint, NoteError, NoteVerifier,
};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::fmt;
use thiserror::Error;

/// Signature type of Ed25519 cosignatures (tlog-cosignature).
pub const COSIGNATURE_ALG: u8 = 0x04;
const SIG_PREFIX: &str = "\u{2014} ";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CosignatureError {
    #[error(
        "witness key: expected <name>+<8 hex digit key id>+<base64(0x04 || 32-byte key)>, {0}"
    )]
    BadVerifierKey(String),
    #[error("cosignature line: {0}")]
    Malformed(String),
    #[error("cosignature line is not from {0}")]
    OtherSigner(String),
    #[error("cosignature by {0} does not verify over this checkpoint")]
    BadSignature(String),
}

/// Key id of an Ed25519 cosigner: SHA-256(name || "\n" || 0x04 || public key)[..4].
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    typed_key_id(name, COSIGNATURE_ALG, key)
}

/// A witness as a verifier knows it: its name and Ed25519 public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessKey {
    pub name: String,
    pub key: VerifyingKey,
}

impl WitnessKey {
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, CosignatureError> {
        check_name(name).map_err(CosignatureError::BadVerifierKey)?;
        Ok(WitnessKey {
            name: name.to_string(),
            key,
        })
    }

    pub fn id(&self) -> [u8; 4] {
        key_id(&self.name, &self.key)
    }

    pub fn parse(s: &str) -> Result<Self, CosignatureError> {
        let (name, key) = parse_typed_vkey(s.trim(), COSIGNATURE_ALG, "an Ed25519 cosignature key")
            .map_err(CosignatureError::BadVerifierKey)?;
        Ok(WitnessKey { name, key })
    }
}

impl fmt::Display for WitnessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_typed_vkey(&self.name, COSIGNATURE_ALG, &self.key))
    }
}

/// The message an Ed25519 cosignature signs.
pub fn signed_message(checkpoint_body: &str, time: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {time}\n{checkpoint_body}").into_bytes()
}

/// Cosign a checkpoint body at `time` (POSIX seconds): one signature line, newline included.
pub fn cosign(checkpoint_body: &str, name: &str, key: &SigningKey, time: u64) -> String {
    assert!(
        checkpoint_body.ends_with('\n'),
        "checkpoint body must end in a newline"
    );
    assert!(
        valid_name(name),
        "witness name {name:?} must be non-empty, without '+' or spaces"
    );
    assert!(time < 1 << 63, "cosignature time must be below 2^63");
    let sig = key.sign(&signed_message(checkpoint_body, time));
    let mut blob = key_id(name, &key.verifying_key()).to_vec();
    blob.extend_from_slice(&time.to_be_bytes());
    blob.extend_from_slice(&sig.to_bytes());
    format!("{SIG_PREFIX}{name} {}\n", B64.encode(blob))
}

/// One signature line split into name and decoded bytes.
fn parse_line(line: &str) -> Result<(&str, Vec<u8>), CosignatureError> {
    parse_signature_line(line.strip_suffix('\n').unwrap_or(line))
        .map_err(CosignatureError::Malformed)
}

/// Whether a signature line names this witness (name and key id), whatever its signature.
pub fn names_witness(line: &str, witness: &WitnessKey) -> bool {
    matches!(parse_line(line), Ok((name, blob)) if name == witness.name && blob.len() >= 4 && blob[..4] == witness.id())
}

/// Verify one cosignature line over a checkpoint body; returns its time (POSIX seconds).
pub fn verify_line(
    checkpoint_body: &str,
    line: &str,
    witness: &WitnessKey,
) -> Result<u64, CosignatureError> {
    let (name, blob) = parse_line(line)?;
    if name != witness.name || blob.len() < 4 || blob[..4] != witness.id() {
        return Err(CosignatureError::OtherSigner(witness.to_string()));
    }
    if blob.len() != 4 + 8 + 64 {
        return Err(CosignatureError::Malformed(format!(
            "a cosignature by {} is {} bytes, expected 76 (key id, time, signature)",
            witness.name,
            blob.len()
        )));
    }
    let time = u64::from_be_bytes(blob[4..12].try_into().expect("8 bytes"));
    if time >= 1 << 63 {
        return Err(CosignatureError::Malformed(format!(
            "the time of the cosignature by {} exceeds 2^63 - 1",
            witness.name
        )));
    }
    let sig = Signature::from_bytes(blob[12..].try_into().expect("64 bytes"));
    witness
        .key
        .verify_strict(&signed_message(checkpoint_body, time), &sig)
        .map_err(|_| CosignatureError::BadSignature(witness.name.clone()))?;
    Ok(time)
}

/// Which of `witnesses` cosigned `body` among `lines`: (index into `witnesses`, time) of each
/// whose every line verifies (the first one's time), and the witnesses with a line that names
/// them but does not verify (C2SP signed-note: a bad signature of a known key rejects the note;
/// [`open_cosigned`] does). Lines of unknown keys are ignored.
pub fn cosigners(
    body: &str,
    lines: &[&str],
    witnesses: &[WitnessKey],
) -> (Vec<(usize, u64)>, Vec<usize>) {
    let (mut valid, mut invalid) = (Vec::new(), Vec::new());
    for (i, w) in witnesses.iter().enumerate() {
        let mut bad = false;
        let mut ok = None;
        for line in lines.iter().filter(|l| names_witness(l, w)) {
            match verify_line(body, line, w) {
                Ok(t) => {
                    ok = ok.or(Some(t));
                }
                Err(_) => bad = true,
            }
        }
        match ok {
            _ if bad => invalid.push(i),
            Some(t) => valid.push((i, t)),
            None => {}
        }
    }
    (valid, invalid)
}

/// A checkpoint with enough cosignatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosigned {
    pub checkpoint: Checkpoint,
    /// The witnesses that cosigned it, with the time of each cosignature.
    pub cosigners: Vec<(WitnessKey, u64)>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum QuorumError {
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The same witness (public key) given twice: it would count twice towards k.
    #[error("witness {0} is given more than once (as {1}): each witness counts once")]
    DuplicateWitness(String, String),
    /// A known witness's line does not verify: the note is rejected (C2SP signed-note).
    #[error("the cosignature of {} does not verify: the note is rejected", .0.join(", "))]
    BadCosignature(Vec<String>),
    #[error("need {need} of {of} witnesses' cosignatures, found {have} valid; missing: {}",
        .missing.join(", "))]
    Quorum {
        need: usize,
        of: usize,
        have: usize,
        /// Witnesses (verifier keys) with no cosignature on the checkpoint.
        missing: Vec<String>,
    },
}

/// Open a cosigned checkpoint: the log's signature must verify with `log`, and at least `k` of
/// `witnesses` must have cosigned its body. Unknown signature lines are ignored.
pub fn open_cosigned(
    note: &str,
    log: &NoteVerifier,
    witnesses: &[WitnessKey],
    k: usize,
) -> Result<Cosigned, QuorumError> {
    for (i, w) in witnesses.iter().enumerate() {
        if let Some(other) = witnesses[..i].iter().find(|o| o.key == w.key) {
            return Err(QuorumError::DuplicateWitness(
                other.to_string(),
                w.to_string(),
            ));
        }
    }
    let checkpoint = Checkpoint::open(note, log)?;
    let (body, lines) = split_note(note)?;
    let (valid, invalid) = cosigners(body, &lines, witnesses);
    if !invalid.is_empty() {
        return Err(QuorumError::BadCosignature(
            invalid.iter().map(|&i| witnesses[i].to_string()).collect(),
        ));
    }
    if valid.len() < k {
        let missing = (0..witnesses.len())
            .filter(|i| !valid.iter().any(|(v, _)| v == i))
            .map(|i| witnesses[i].to_string())
            .collect();
        return Err(QuorumError::Quorum {
            need: k,
            of: witnesses.len(),
            have: valid.len(),
            missing,
        });
    }
    Ok(Cosigned {
        checkpoint,
        cosigners: valid
            .into_iter()
            .map(|(i, t)| (witnesses[i].clone(), t))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real checkpoint of the arche2025h1 staging CT log and four witnesses' cosignatures on
    // it, as published in the test suite of a Python tlog client (its log signature is of the
    // RFC 6962 type 0x05, which we do not verify; the cosignatures are type 0x04).
    const REAL_BODY: &str = "arche2025h1.staging.ct.transparency.dev\n1432088532\nU7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=\n";
    const REAL_LINES: [&str; 4] = [
        "— transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==",
        "— witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==",
        "— remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==",
        "— witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==",
    ];
    // Published verifier keys of those witnesses.
    const REAL_KEYS: [&str; 4] = [
        "transparency.dev/DEV:witness-little-garden+d8042a87+BCtusOxINQNUTN5Oj8HObRkh2yHf/MwYaGX4CPdiVEPM",
        "witness1.smartit.nu/witness1+a48c820f+BPSFWg9G6KPiO7QPryYO5Xq4oYJJ+kAvLKLSimDhoxMO",
        "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
        "witness.stagemole.eu+67f7aea0+BEqSG3yu9YrmcM3BHvQYTxwFj3uSWakQepafafpUqklv",
    ];

    #[test]
    fn real_witnesses_cosignatures_verify_known_answer() {
        let keys: Vec<WitnessKey> = REAL_KEYS
            .iter()
            .map(|k| WitnessKey::parse(k).unwrap())
            .collect();
        // The key ids we compute are the published ones (parse checks it; round trip too).
        for (k, s) in keys.iter().zip(REAL_KEYS) {
            assert_eq!(k.to_string(), s);
        }
        for (k, line) in keys.iter().zip(REAL_LINES) {
            // All four cosigned at 2026-05-23 (0x6a122120).
            assert_eq!(
                verify_line(REAL_BODY, line, k),
                Ok(0x6a12_2120),
                "{}",
                k.name
            );
        }
        let (valid, invalid) = cosigners(REAL_BODY, &REAL_LINES, &keys);
        assert_eq!(valid.len(), 4);
        assert!(invalid.is_empty());
        // One changed digit in the body: none verifies.
        let other = REAL_BODY.replace("1432088532", "1432088533");
        let (valid, invalid) = cosigners(&other, &REAL_LINES, &keys);
        assert!(valid.is_empty());
        assert_eq!(invalid.len(), 4);
        // A line is only checked against the key it names.
        assert_eq!(
            verify_line(REAL_BODY, REAL_LINES[0], &keys[2]),
            Err(CosignatureError::OtherSigner(REAL_KEYS[2].to_string()))
        );
    }

    #[test]
    fn a_plain_note_key_is_not_a_cosignature_key() {
        // Type 0x01 keys (signed-note Ed25519) are refused, naming what is expected.
        let e = WitnessKey::parse("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6")
            .unwrap_err();
        assert!(e.to_string().contains("0x04"), "{e}");
        let e = WitnessKey::parse(
            "remora.n621.de+00000000+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
        )
        .unwrap_err();
        assert!(e.to_string().contains("key id"), "{e}");
    }

    fn log_and_witnesses() -> (SigningKey, NoteVerifier, Vec<(SigningKey, WitnessKey)>) {
        let log = SigningKey::from_bytes(&[1; 32]);
        let v = NoteVerifier::new("example.org/log", log.verifying_key()).unwrap();
        let ws = (0..3u8)
            .map(|i| {
                let k = SigningKey::from_bytes(&[10 + i; 32]);
                let w = WitnessKey::new(&format!("w{i}.example"), k.verifying_key()).unwrap();
                (k, w)
            })
            .collect();
        (log, v, ws)
    }

    #[test]
    fn k_of_n_names_the_missing_and_the_invalid() {
        let (log, v, ws) = log_and_witnesses();
        let cp = Checkpoint {
            origin: v.name.clone(),
            size: 7,
            root: [9; 32],
        };
        let note = cp.sign(&log);
        let keys: Vec<WitnessKey> = ws.iter().map(|(_, w)| w.clone()).collect();
        let mut cosigned = note.clone();
        cosigned.push_str(&cosign(&cp.body(), &ws[0].1.name, &ws[0].0, 1_800_000_000));
        // A stranger's line is ignored.
        let stranger = SigningKey::from_bytes(&[99; 32]);
        cosigned.push_str(&cosign(&cp.body(), "stranger", &stranger, 1_800_000_000));
        // Witness 1's line over another body does not verify.
        let other = Checkpoint {
            size: 8,
            ..cp.clone()
        };
        cosigned.push_str(&cosign(
            &other.body(),
            &ws[1].1.name,
            &ws[1].0,
            1_800_000_001,
        ));

        // A known witness's line that does not verify rejects the note, whatever else is there.
        match open_cosigned(&cosigned, &v, &keys, 1) {
            Err(QuorumError::BadCosignature(bad)) => assert_eq!(bad, vec![keys[1].to_string()]),
            other => panic!("{other:?}"),
        }
        // Without it: k of n, naming the missing.
        let cosigned = cosigned[..cosigned.rfind("— w1.example").unwrap()].to_string();
        let ok = open_cosigned(&cosigned, &v, &keys, 1).unwrap();
        assert_eq!(ok.checkpoint, cp);
        assert_eq!(ok.cosigners, vec![(keys[0].clone(), 1_800_000_000)]);
        match open_cosigned(&cosigned, &v, &keys, 2) {
            Err(QuorumError::Quorum {
                need: 2,
                of: 3,
                have: 1,
                missing,
            }) => {
                assert_eq!(missing, vec![keys[1].to_string(), keys[2].to_string()]);
            }
            other => panic!("{other:?}"),
        }
        let msg = open_cosigned(&cosigned, &v, &keys, 3)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("w2.example") && msg.contains("need 3 of 3"),
            "{msg}"
        );
        // One witness named twice (here under another name) counts once: refused.
        let twice = WitnessKey::new("w0-again.example", keys[0].key).unwrap();
        let doubled = [keys[0].clone(), twice];
        assert!(matches!(
            open_cosigned(&cosigned, &v, &doubled, 2),
            Err(QuorumError::DuplicateWitness(..))
        ));
        // The log's own signature is required whatever the witnesses say.
        let other_log = NoteVerifier::new("example.org/log", stranger.verifying_key()).unwrap();
        assert!(matches!(
            open_cosigned(&cosigned, &other_log, &keys, 0),
            Err(QuorumError::Note(NoteError::NotSigned(_)))
        ));
        // A cosignature line appended to a note is still a valid note for the log's key alone.
        assert_eq!(Checkpoint::open(&cosigned, &v).unwrap(), cp);
    }

    #[test]
    fn the_signed_message_is_the_specs() {
        let body =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        assert_eq!(
            String::from_utf8(signed_message(body, 1679315147)).unwrap(),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
        let k = SigningKey::from_bytes(&[5; 32]);
        let line = cosign(body, "w.example", &k, 1679315147);
        let blob = B64
            .decode(line.trim_end().rsplit(' ').next().unwrap())
            .unwrap();
        assert_eq!(blob.len(), 76);
        assert_eq!(&blob[..4], &key_id("w.example", &k.verifying_key()));
        assert_eq!(&blob[4..12], &1679315147u64.to_be_bytes());
    }
}
