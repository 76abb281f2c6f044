//! Intake: the stage before the sequencer. Events submitted concurrently (over HTTP) have their
//! signatures checked together, in Ed25519 batches spread over every core, then go on to the
//! sequencer in arrival order. Signature checks stay off the sequencer, at about twice the rate
//! of checking each request on its own.

use super::sequencer::{self, Reply, SubmitError};
use super::stage::{drain, Refused, Stage};
use crate::ledger::event::{SignedEvent, VerifiedEvent};
use crate::ledger::state::Prepare;
use std::sync::Arc;

/// Most events checked in one round.
const MAX_ROUND: usize = 1024;

pub(super) struct Intake(Stage<(SignedEvent, Reply)>);

impl Intake {
    /// `bound`: most events waiting for their signature check; beyond it `send` refuses at once
    /// (`SubmitError::Busy`). The intake waits for room in the sequencer's queue, so a full
    /// sequencer fills this queue and the refusals start here.
    ///
    /// `prepare`: what the fold works out from an event ahead (`Rules::prepares`), done beside
    /// each event's signature check.
    pub fn start(sequencer: Arc<sequencer::Handle>, bound: usize, prepare: Prepare) -> Self {
        Intake(Stage::spawn("intake", bound, move |rx| {
            let mut round = Vec::with_capacity(MAX_ROUND);
            while drain(&rx, MAX_ROUND, &mut round) {
                let (events, replies): (Vec<SignedEvent>, Vec<Reply>) = round.drain(..).unzip();
                let checked = VerifiedEvent::check_all(events, prepare);
                for (checked, reply) in checked.into_iter().zip(replies) {
                    match checked {
                        Ok(event) => sequencer.send(event, reply),
                        Err(e) => {
                            let _ = reply.send(Err(SubmitError::Signature(e)));
                        }
                    }
                }
            }
        }))
    }

    pub fn send(&self, event: SignedEvent, reply: Reply) {
        if let Err(((_, reply), why)) = self.0.try_send((event, reply)) {
            let _ = reply.send(Err(match why {
                Refused::Full => SubmitError::Busy,
                Refused::Stopped => SubmitError::Stopped,
            }));
        }
    }

    pub fn stop(&self) {
        self.0.stop();
    }
}
