//! The parties' client commands: each takes the party's key file and the server's URL.
//! (Being written: see issue 3, item 7.)

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum PartyCommand {}

pub fn run(cmd: PartyCommand) -> Result<()> {
    match cmd {}
}
