//! `bench`: the reservation benchmark of this system against PostgreSQL and
//! Redis run locally, fsync on everywhere. See `chaos_tests::bench`.
//!
//! ```sh
//! cargo build --release -p regions -p chaos-tests
//! target/release/bench --workload all --json bench.json
//! ```

use std::io::Write as _;

use anyhow::Context as _;
use chaos_tests::bench::{self, Target, cli::Args};
use clap::Parser as _;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let settings = args.settings(&exe);
    if settings.targets.contains(&Target::Ledger) && !settings.regiond.is_file() {
        anyhow::bail!(
            "no regiond executable at {}; build it next to bench with \
             `cargo build --release -p regions -p chaos-tests` (or pass --regiond PATH)",
            settings.regiond.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // On Ctrl-C the run is dropped, which stops every process it started
    // and removes its directories.
    let report = runtime.block_on(async {
        tokio::select! {
            report = bench::run(&settings) => Ok(report),
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted; every started process was stopped")),
        }
    })?;
    // Let the connection tasks of the finished targets end before exiting.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));

    let mut stdout = std::io::stdout().lock();
    stdout.write_all(report.render().as_bytes())?;
    stdout.flush()?;
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n").with_context(|| format!("cannot write {}", path.display()))?;
        writeln!(stdout, "\nJSON report: {}", path.display())?;
    }
    anyhow::ensure!(!report.has_failures(), "a target failed; see the table above");
    Ok(())
}
