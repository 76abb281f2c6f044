//! Investigations, over the derived domain state: anomaly detectors (`detectors`), linked
//! search and the graph around one load (`search`), one vehicle's track, stops and nearby sites
//! for the map (`track`), and case bundles a court verifies with
//! no server (`bundle`). Pure: no sled, no actix, no files, no clock.

pub mod bundle;
pub mod detectors;
pub mod search;
pub mod track;
