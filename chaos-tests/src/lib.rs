//! The SREs' tools that run the system as real processes: the benchmark
//! `bench` (built) and the chaos harness `chaos` (not built yet: issue #4).
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
//! `--json out.json`, ...). See [`bench`] for what each target does.
//!
//! The chaos harness will launch regions the same way ([`cluster`]), inject
//! faults, record client histories and check them: no oversell,
//! conservation, no lost acknowledgement, replica convergence. See
//! DESIGN.md §8.
//!
//! # Layout
//!
//! - [`process`]: a child process this crate started ([`process::Supervised`]),
//!   stopped by pid when dropped; free ports; random tokens.
//! - [`cluster`]: a region of `regiond` processes from generated configs:
//!   launch, wait for a leader, stop / kill / restart a node, metrics.
//! - [`bench`]: the benchmark: workloads, load generator, targets, report.
//! - `src/bin/bench.rs`: the `bench` program (arguments, logging, output).
#![deny(missing_docs)]

pub mod bench;
pub use region_launcher::{cluster, process};
