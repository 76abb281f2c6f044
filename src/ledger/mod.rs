//! The ledger's rules, as pure functions: entry encoding, event signatures, the hash chain,
//! the RFC 9162 Merkle tree and its proofs, C2SP checkpoints, the log's own state and the
//! audit. Invariant: no I/O here (no sled, no actix, no files, no clock).

pub mod audit;
pub mod canonical;
pub mod cosignature;
pub mod entry;
pub mod event;
pub mod kv;
pub mod merkle;
pub mod note;
pub mod parallel;
pub mod state;
pub mod tiles;
pub mod time;
pub mod tlog_proof;
