use clap::Parser;
use std::io::IsTerminal;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if let Err(e) = wasteledger::cli::run(wasteledger::cli::Cli::parse()) {
        eprintln!("wasteledger: {e:#}");
        std::process::exit(1);
    }
}
