//! wasteledger: a chain-of-custody ledger for hazardous and construction waste.
//! See ARCHITECTURE.md for the map of modules and the invariants each keeps.

pub mod bench;
pub mod cli;
pub mod client;
pub mod domain;
pub mod http;
pub mod investigate;
pub mod keyfile;
pub mod ledger;
pub mod mirror;
pub mod qr;
pub mod store;
pub mod web;
pub mod witness;
