//! `cargo bench`: the same benchmarks as `wasteledger bench`, at a size that runs in minutes.
//! Set WASTELEDGER_BENCH_ENTRIES (bare log entries) or WASTELEDGER_BENCH_MANIFESTS (manifests
//! carried through their life on a waste log) for another size.

fn main() -> anyhow::Result<()> {
    let entries = std::env::var("WASTELEDGER_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    wasteledger::bench::run(wasteledger::bench::Options {
        entries,
        signers: 1,
        http: true,
        mirror: true,
        http_events: 20_000,
        http_clients: 64,
        cache_mb: 256,
        dir: None,
        domain: std::env::var("WASTELEDGER_BENCH_MANIFESTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(40_000),
        data: None,
        queries: 4_000,
        readers: 0,
        seconds: 20.0,
        open_only: false,
    })
}
