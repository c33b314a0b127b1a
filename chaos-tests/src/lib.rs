//! The SREs' tools that run the system as real processes: the benchmark
//! `bench` and the chaos harness `chaos`.
//!
//! # Running the benchmark
//!
//! ```sh
//! cargo build --release -p regions -p chaos-tests
//! target/release/bench --workload all
//! ```
//!
//! It starts a 3-replica region of `regiond` processes (found next to the
//! `bench` executable), a PostgreSQL and a Redis server (skipped, and said
//! so, when not installed: `apt-get install -y postgresql redis-server`),
//! each in a temporary directory with fsync on, runs the same reservation
//! workload against each, and prints throughput, p50/p99/p999 latency,
//! errors and the ratios between them, with the machine described.
//! `bench --help` lists the options (`--workload hot|spread|all`,
//! `--targets ledger,postgres,redis`, `--concurrency`, `--duration`,
//! `--json out.json`, ...). See [`mod@bench`] for what each target does.
//!
//! # Running the chaos harness
//!
//! ```sh
//! cargo build -p regions --bins && cargo build -p chaos-tests --bins
//! target/debug/chaos list
//! target/debug/chaos suite --duration 8
//! target/debug/chaos run --scenario leader-kill --seed 7 --duration 10 --json run.json
//! ```
//!
//! It launches regions the same way ([`cluster`], `regiond` found next to
//! the `chaos` executable), injects faults, records client histories and
//! checks them: no oversell, conservation, no lost acknowledgement, no
//! phantom, replica convergence. See [`chaos`] and DESIGN.md §8.
//!
//! # Layout
//!
//! - [`process`]: a child process this crate started ([`process::Supervised`]),
//!   stopped by pid when dropped; free ports; random tokens.
//! - [`cluster`]: a region of `regiond` processes from generated configs:
//!   launch, wait for a leader, stop / kill / restart a node, metrics.
//! - [`mod@bench`]: the benchmark: workloads, load generator, targets, report.
//! - [`chaos`]: the chaos harness: workload, nemesis, history, checkers.
//! - `src/bin/bench.rs`: the `bench` program (arguments, logging, output).
//! - `src/bin/chaos.rs`: the `chaos` program (a shim over [`chaos::cli`]).
#![deny(missing_docs)]

pub mod bench;
pub mod chaos;
pub use region_launcher::{cluster, process, seed};
