//! PURE: the rule for a hand-over signed by one of its two parties. A `custody.handover` the
//! giver and the taker both signed goes to the log; one signed by one of them only, and right
//! but for the other's signature (`Domain::check_half_signed`: the same decision the log
//! makes), waits beside the log, under its manifest, for the countersignature. Anything else
//! goes to the log, which refuses it with its own reasons. The store keeps the halves
//! (`Ledger::submit_or_wait`); HTTP only parses and answers.

use super::fold::Domain;
use super::query::DomainQuery;
use crate::ledger::event::SignedEvent;
use crate::ledger::state::Arrival;
use crate::ledger::time::Timestamp;
use serde_json::Value;

/// What becomes of `event` arriving at `now`, by the state `d` (its signatures not checked:
/// a half's are checked before it is kept, a whole's once, on its way to the log).
pub fn arrival(d: &Domain, event: &SignedEvent, now: Timestamp) -> Arrival {
    if event.event_type() != "custody.handover" {
        return Arrival::Append;
    }
    let side = |s: &str| event.event().get(s).and_then(Value::as_str);
    let signed = |party: Option<&str>| {
        event
            .signers()
            .any(|k| d.party_of(k).as_ref().map(|u| u.as_str()) == party)
    };
    if signed(side("from")) && signed(side("to")) {
        return Arrival::Append;
    }
    match d.check_half_signed(event, now) {
        Ok(missing) => Arrival::Wait {
            group: side("manifest").unwrap_or_default().to_string(),
            waiting_for: missing.to_string(),
        },
        // Let the sequencer give its refusal (the same checks, named the same way).
        Err(_) => Arrival::Append,
    }
}
