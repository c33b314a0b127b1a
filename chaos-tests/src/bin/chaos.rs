//! `chaos`: the SRE chaos harness. See `chaos_tests::chaos`.
//!
//! ```sh
//! cargo build -p regions --bins && cargo build -p chaos-tests --bins
//! target/debug/chaos suite --duration 8
//! ```

use std::process::ExitCode;

use chaos_tests::chaos::cli::{self, Args};
use clap::Parser as _;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,chaos_tests=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> anyhow::Result<bool> {
    let exe = std::env::current_exe()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // On Ctrl-C or SIGTERM the run is dropped, and the runtime with it when
    // this function returns, which stops every process the run started.
    let passed = runtime.block_on(async {
        let mut stdout = std::io::stdout();
        tokio::select! {
            passed = cli::execute(args, &exe, &mut stdout) => passed,
            signal = interrupted() => {
                signal?;
                Err(anyhow::anyhow!("interrupted; every started process was stopped"))
            }
        }
    })?;
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(passed)
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM; fails if it cannot listen.
async fn interrupted() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}
