//! A C2SP tlog-witness, as pure functions: the `add-checkpoint` decision from (the witness's
//! state, the request body, the logs it knows, the time) to a cosignature or the spec's error.
//! No I/O here: the caller persists the new state (before handing out the cosignature) and
//! speaks HTTP (`http::witness`, `cli::witness`).
//!
//! The witness never cosigns a checkpoint that is not consistent with the last one it cosigned
//! for that origin: the same size with another root (a fork), a smaller size (a roll-back), or a
//! larger size whose consistency proof does not verify. The new state is returned only when it
//! cosigns.

use crate::ledger::cosignature::{cosign, WitnessKey};
use crate::ledger::merkle::{verify_consistency, Hash};
use crate::ledger::note::{Checkpoint, NoteVerifier};
use crate::ledger::time::Timestamp;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// At most this many consistency proof lines in a request (tlog-witness).
pub const MAX_PROOF_LINES: usize = 63;

/// What the witness remembers of one log: the last checkpoint it cosigned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    pub size: u64,
    /// Base64 of the root hash.
    pub root: String,
    /// The log's signed checkpoint note, as submitted (evidence of what the log said).
    pub note: String,
}

impl LogRecord {
    pub fn root_hash(&self) -> Option<Hash> {
        B64.decode(&self.root).ok()?.try_into().ok()
    }
}

/// Why a follower stopped cosigning a log: kept until an operator clears it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halt {
    pub reason: String,
    /// The log's signed checkpoint that showed the misbehaviour.
    pub note: String,
    /// The consistency proof the log served with it, base64 lines.
    #[serde(default)]
    pub proof: Vec<String>,
}

/// The witness's whole state, a plain value (persisted as JSON by the caller).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessState {
    /// Per origin: the last cosigned checkpoint.
    #[serde(default)]
    pub logs: BTreeMap<String, LogRecord>,
    /// Per origin: logs the witness refuses to cosign any more (fork, roll-back, bad proof seen
    /// while following the log).
    #[serde(default)]
    pub halted: BTreeMap<String, Halt>,
}

impl WitnessState {
    /// The size of the last checkpoint cosigned for `origin` (0 if none).
    pub fn size_of(&self, origin: &str) -> u64 {
        self.logs.get(origin).map_or(0, |r| r.size)
    }

    /// The state with `origin` halted for `reason` (what a follower does on misbehaviour).
    pub fn halt(&self, origin: &str, halt: Halt) -> WitnessState {
        let mut s = self.clone();
        s.halted.insert(origin.to_string(), halt);
        s
    }
}

/// A parsed add-checkpoint request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old: u64,
    pub proof: Vec<Hash>,
    /// The checkpoint note (body and signatures).
    pub note: String,
}

impl AddCheckpoint {
    /// The request body: `old N`, one base64 hash per line, a blank line, the checkpoint.
    pub fn to_body(&self) -> String {
        let mut s = format!("old {}\n", self.old);
        for h in &self.proof {
            s.push_str(&B64.encode(h));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.note);
        s
    }

    pub fn parse(body: &[u8]) -> Result<Self, Refusal> {
        let bad = |d: String| Refusal::BadRequest(d);
        let text = std::str::from_utf8(body).map_err(|_| bad("the body is not UTF-8".into()))?;
        let (first, mut rest) = text
            .split_once('\n')
            .ok_or_else(|| bad("expected a first line `old <size>`".into()))?;
        let old_s = first
            .strip_prefix("old ")
            .ok_or_else(|| bad(format!("first line: expected `old <size>`, got {first:?}")))?;
        let old: u64 = old_s
            .parse()
            .ok()
            .filter(|_| old_s.bytes().all(|b| b.is_ascii_digit()))
            .filter(|_| old_s == "0" || !old_s.starts_with('0'))
            .ok_or_else(|| {
                bad(format!(
                    "old size: expected a decimal number without leading zeros, got {old_s:?}"
                ))
            })?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest.split_once('\n').ok_or_else(|| {
                bad(
                    "expected the consistency proof lines, then an empty line, then the checkpoint"
                        .into(),
                )
            })?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad(format!(
                    "consistency proof: more than {MAX_PROOF_LINES} lines"
                )));
            }
            let h: Hash = B64
                .decode(line)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    bad(format!(
                        "consistency proof line {}: expected base64 of 32 bytes, got {line:?}",
                        proof.len() + 1
                    ))
                })?;
            proof.push(h);
        }
        if rest.is_empty() {
            return Err(bad("the checkpoint is missing after the empty line".into()));
        }
        Ok(AddCheckpoint {
            old,
            proof,
            note: rest.to_string(),
        })
    }
}

/// Why the witness did not cosign, each with the tlog-witness status code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 400: the request cannot be read.
    #[error("malformed add-checkpoint request: {0}")]
    BadRequest(String),
    /// 404: the checkpoint's origin is not a log this witness knows.
    #[error("unknown log {0:?}: this witness is not configured for it")]
    UnknownLog(String),
    /// 403: no signature of the log's key on the checkpoint.
    #[error("the checkpoint is not signed by the key of log {0:?}")]
    NotSigned(String),
    /// 403: the witness stopped cosigning this log (an operator must clear it).
    #[error("this witness stopped cosigning {origin:?}: {reason}")]
    Halted { origin: String, reason: String },
    /// 400: the checkpoint is smaller than the last one cosigned (spec: old > checkpoint size).
    #[error("roll-back: the checkpoint of {origin:?} has size {size}, smaller than {old}, the last size cosigned")]
    RolledBack { origin: String, old: u64, size: u64 },
    /// 409 with the witness's size: `old` is not the size the witness last cosigned.
    #[error("old size {old} is not the size this witness last cosigned for {origin:?} ({size})")]
    Conflict { origin: String, old: u64, size: u64 },
    /// 409: same size as the last cosigned checkpoint, another root.
    #[error("fork: {origin:?} at size {size} has root {new_root}, but this witness cosigned root {root} at that size")]
    Fork {
        origin: String,
        size: u64,
        root: String,
        new_root: String,
    },
    /// 422: the consistency proof does not verify from the last cosigned checkpoint.
    #[error(
        "the consistency proof from size {old} to {size} of {origin:?} does not verify: {detail}"
    )]
    BadProof {
        origin: String,
        old: u64,
        size: u64,
        detail: String,
    },
}

impl Refusal {
    /// The HTTP status tlog-witness gives this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) | Refusal::RolledBack { .. } => 400,
            Refusal::UnknownLog(_) => 404,
            Refusal::NotSigned(_) | Refusal::Halted { .. } => 403,
            Refusal::Conflict { .. } | Refusal::Fork { .. } => 409,
            Refusal::BadProof { .. } => 422,
        }
    }

    /// Whether this refusal, met while following a log (the log itself served the checkpoint
    /// and the proof), shows the log misbehaving: then the follower halts that log.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            Refusal::RolledBack { .. } | Refusal::Fork { .. } | Refusal::BadProof { .. }
        )
    }
}

/// The witness: its name and key, and the logs it knows (origin = verifier name).
pub struct Witness<'a> {
    pub name: &'a str,
    pub key: &'a SigningKey,
    pub logs: &'a [NoteVerifier],
}

/// What a successful add-checkpoint gives: the cosignature line(s) and the state to persist
/// before they are handed out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosigning {
    pub lines: String,
    pub checkpoint: Checkpoint,
    pub state: WitnessState,
}

impl Witness<'_> {
    /// The witness's verifier key (type 0x04).
    pub fn verifier(&self) -> WitnessKey {
        WitnessKey::new(self.name, self.key.verifying_key()).expect("a valid witness name")
    }

    /// tlog-witness add-checkpoint: check `body` against `state` and cosign at `now`.
    pub fn add_checkpoint(
        &self,
        state: &WitnessState,
        body: &[u8],
        now: Timestamp,
    ) -> Result<Cosigning, Refusal> {
        let req = AddCheckpoint::parse(body)?;
        // Origin first: the first line of the note.
        let origin = req.note.split('\n').next().unwrap_or_default();
        let log = self
            .logs
            .iter()
            .find(|l| l.name == origin)
            .ok_or_else(|| Refusal::UnknownLog(origin.to_string()))?;
        let cp = match Checkpoint::open(&req.note, log) {
            Ok(cp) => cp,
            Err(
                crate::ledger::note::NoteError::NotSigned(_)
                | crate::ledger::note::NoteError::BadSignature(_),
            ) => return Err(Refusal::NotSigned(origin.to_string())),
            Err(e) => return Err(Refusal::BadRequest(e.to_string())),
        };
        if let Some(h) = state.halted.get(&cp.origin) {
            return Err(Refusal::Halted {
                origin: cp.origin,
                reason: h.reason.clone(),
            });
        }
        let last = state.logs.get(&cp.origin);
        let size = last.map_or(0, |r| r.size);
        if req.old > cp.size {
            if req.old == size {
                return Err(Refusal::RolledBack {
                    origin: cp.origin,
                    old: size,
                    size: cp.size,
                });
            }
            return Err(Refusal::BadRequest(format!(
                "old size {} is larger than the checkpoint's size {}",
                req.old, cp.size
            )));
        }
        if req.old != size {
            return Err(Refusal::Conflict {
                origin: cp.origin,
                old: req.old,
                size,
            });
        }
        match last {
            None => {
                if !req.proof.is_empty() {
                    return Err(Refusal::BadProof {
                        origin: cp.origin,
                        old: 0,
                        size: cp.size,
                        detail: "the proof must be empty when the old size is 0".into(),
                    });
                }
            }
            Some(r) => {
                let root = r.root_hash().ok_or_else(|| {
                    Refusal::BadRequest(format!("the stored root of {:?} is not a hash", cp.origin))
                })?;
                if cp.size == size && cp.root != root {
                    return Err(Refusal::Fork {
                        origin: cp.origin.clone(),
                        size,
                        root: r.root.clone(),
                        new_root: B64.encode(cp.root),
                    });
                }
                if size == 0 && !req.proof.is_empty() {
                    return Err(Refusal::BadProof {
                        origin: cp.origin,
                        old: 0,
                        size: cp.size,
                        detail: "the proof must be empty when the old size is 0".into(),
                    });
                }
                if size > 0 {
                    verify_consistency(size, cp.size, &req.proof, &root, &cp.root).map_err(
                        |e| Refusal::BadProof {
                            origin: cp.origin.clone(),
                            old: size,
                            size: cp.size,
                            detail: e.to_string(),
                        },
                    )?;
                }
            }
        }
        let time = now.unix_millis() / 1000;
        let lines = cosign(&cp.body(), self.name, self.key, time);
        let mut new = state.clone();
        new.logs.insert(
            cp.origin.clone(),
            LogRecord {
                size: cp.size,
                root: B64.encode(cp.root),
                note: req.note.clone(),
            },
        );
        Ok(Cosigning {
            lines,
            checkpoint: cp,
            state: new,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::cosignature::{open_cosigned, verify_line};
    use crate::ledger::merkle::{consistency_proof, leaf_hash, mth};

    struct Log {
        key: SigningKey,
        v: NoteVerifier,
        leaves: Vec<Hash>,
    }

    impl Log {
        fn new(seed: u8, tag: &str, n: usize) -> Log {
            let key = SigningKey::from_bytes(&[seed; 32]);
            let v = NoteVerifier::new("example.org/log", key.verifying_key()).unwrap();
            let leaves = (0..n)
                .map(|i| leaf_hash(format!("{tag}{i}").as_bytes()))
                .collect();
            Log { key, v, leaves }
        }
        fn cp(&self, size: usize) -> Checkpoint {
            Checkpoint {
                origin: self.v.name.clone(),
                size: size as u64,
                root: mth(&self.leaves[..size]),
            }
        }
        fn request(&self, old: usize, size: usize) -> Vec<u8> {
            let proof = if old == 0 || old >= size {
                vec![]
            } else {
                consistency_proof(&self.leaves[..], old as u64, size as u64).unwrap()
            };
            AddCheckpoint {
                old: old as u64,
                proof,
                note: self.cp(size).sign(&self.key),
            }
            .to_body()
            .into_bytes()
        }
    }

    fn now() -> Timestamp {
        Timestamp::from_unix_millis(1_800_000_000_123)
    }

    #[test]
    fn cosigns_a_growing_log_and_each_cosignature_verifies() {
        let log = Log::new(1, "a", 10);
        let wkey = SigningKey::from_bytes(&[7; 32]);
        let logs = [log.v.clone()];
        let w = Witness {
            name: "w.example",
            key: &wkey,
            logs: &logs,
        };
        let mut state = WitnessState::default();
        for (old, size) in [(0, 3), (3, 3), (3, 8), (8, 10)] {
            let c = w
                .add_checkpoint(&state, &log.request(old, size), now())
                .unwrap();
            assert_eq!(c.checkpoint, log.cp(size));
            assert_eq!(
                verify_line(&log.cp(size).body(), &c.lines, &w.verifier()),
                Ok(1_800_000_000)
            );
            let note = format!("{}{}", log.cp(size).sign(&log.key), c.lines);
            open_cosigned(&note, &log.v, &[w.verifier()], 1).unwrap();
            state = c.state;
            assert_eq!(state.size_of("example.org/log"), size as u64);
        }
    }

    #[test]
    fn refuses_forks_roll_backs_bad_proofs_and_stale_old_sizes() {
        let a = Log::new(1, "a", 10);
        // Log B: same origin and key, other entries from index 2 on.
        let mut b = Log::new(1, "a", 10);
        for l in b.leaves[2..].iter_mut() {
            *l = leaf_hash(&l[..]);
        }
        let wkey = SigningKey::from_bytes(&[7; 32]);
        let logs = [a.v.clone()];
        let w = Witness {
            name: "w.example",
            key: &wkey,
            logs: &logs,
        };
        let state = w
            .add_checkpoint(&WitnessState::default(), &a.request(0, 5), now())
            .unwrap()
            .state;
        // Same size, other root.
        let e = w
            .add_checkpoint(&state, &b.request(5, 5), now())
            .unwrap_err();
        assert!(matches!(e, Refusal::Fork { size: 5, .. }), "{e}");
        assert_eq!(e.status(), 409);
        // Larger, with B's own proof (from B's tree at 5, not A's): does not verify.
        let e = w
            .add_checkpoint(&state, &b.request(5, 9), now())
            .unwrap_err();
        assert!(
            matches!(
                e,
                Refusal::BadProof {
                    old: 5,
                    size: 9,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(e.status(), 422);
        // Smaller: a roll-back.
        let e = w
            .add_checkpoint(&state, &a.request(5, 4), now())
            .unwrap_err();
        assert!(
            matches!(
                e,
                Refusal::RolledBack {
                    old: 5,
                    size: 4,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(e.status(), 400);
        // Stale old: 409 naming the witness's size.
        let e = w
            .add_checkpoint(&state, &a.request(3, 8), now())
            .unwrap_err();
        assert_eq!(
            e,
            Refusal::Conflict {
                origin: "example.org/log".into(),
                old: 3,
                size: 5
            }
        );
        // Unknown log, checkpoint not signed by the log's key.
        let stranger = Log::new(2, "a", 10);
        let mut other = Log::new(2, "a", 10);
        other.v = NoteVerifier::new("other.org/log", other.key.verifying_key()).unwrap();
        let e = w
            .add_checkpoint(&state, &other.request(0, 3), now())
            .unwrap_err();
        assert_eq!(e.status(), 404);
        let e = w
            .add_checkpoint(&state, &stranger.request(5, 8), now())
            .unwrap_err();
        assert_eq!(e, Refusal::NotSigned("example.org/log".into()));
        assert_eq!(e.status(), 403);
        // A halted log is refused even with a good request.
        let halted = state.halt(
            "example.org/log",
            Halt {
                reason: "fork".into(),
                note: String::new(),
                proof: vec![],
            },
        );
        let e = w
            .add_checkpoint(&halted, &a.request(5, 8), now())
            .unwrap_err();
        assert_eq!(e.status(), 403);
        // And the good request on the good state still works.
        assert!(w.add_checkpoint(&state, &a.request(5, 8), now()).is_ok());
    }

    #[test]
    fn malformed_requests_are_400_naming_the_part() {
        for (body, want) in [
            ("old 01\n\nx\n", "leading zeros"),
            ("new 1\n\nx\n", "old <size>"),
            ("old 0\nnot-base64\n\nx\n", "proof line 1"),
            ("old 0\n\n", "checkpoint is missing"),
            ("old 0\n", "empty line"),
        ] {
            let e = AddCheckpoint::parse(body.as_bytes()).unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(e.to_string().contains(want), "{body:?}: {e}");
        }
        let req = AddCheckpoint {
            old: 4,
            proof: vec![[1; 32], [2; 32]],
            note: "o\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— o x\n".into(),
        };
        assert_eq!(AddCheckpoint::parse(req.to_body().as_bytes()), Ok(req));
    }
}
