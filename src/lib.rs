//! wasteledger: a chain-of-custody ledger for hazardous and construction waste.
//! See ARCHITECTURE.md for the map.

pub mod ledger;
pub mod store;
