//! `wasteledger demo`: a fresh log with the demo keys, a Kunshan week played from
//! fixtures/demo, then the server. (Being written: see issue 3, item 8.)

use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct Options {
    /// An empty (or absent) directory for the demo log.
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
}

pub fn run(_opts: Options) -> Result<()> {
    bail!("the demo is not written yet")
}
