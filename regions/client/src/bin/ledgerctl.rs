//! `ledgerctl`: the command line for a region's warehouse, reservation and
//! admin APIs. Everything is in `region_client::cli`; this only hands it the
//! process's arguments and streams, and turns its result into the exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ledgerctl: cannot start the async runtime: {error}");
            return ExitCode::from(4);
        }
    };
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let code = runtime.block_on(region_client::cli::run_and_report(std::env::args_os(), &mut out, &mut err));
    ExitCode::from(code)
}
