use clap::Parser;
use std::io::IsTerminal;

/// mimalloc instead of glibc's malloc: the sequencer's fold allocates and frees decoded values
/// by the hundred thousand per batch, and glibc spent a third of its time merging freed chunks.
/// (A default feature: built without it for a heap profiler, which sees malloc only.)
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit codes: 0 done, 1 refused or failed (the reason on stderr), 2 usage (clap's own).
fn main() {
    wasteledger::store::tune_the_allocator();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = wasteledger::cli::Cli::parse();
    if !cli.serves() {
        // `wasteledger verify-bundle … | head` ends quietly when `head` closes the pipe, as any
        // Unix tool does, instead of panicking on the failed print. Commands that serve keep
        // the Rust default, under which a peer that hangs up is an error, never the end.
        // SAFETY: setting a signal's disposition to its default, before any thread starts.
        #[cfg(unix)]
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    if let Err(e) = wasteledger::cli::run(cli) {
        eprintln!("wasteledger: {e:#}");
        std::process::exit(1);
    }
}
