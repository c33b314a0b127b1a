//! Launching regions of real `regiond` processes on loopback addresses, shared by
//! `regiond dev` (the README's local deployment), the benchmark and the
//! chaos harness, so there is one way to run a region as processes.
//!
//! - [`cluster`]: [`cluster::Cluster`], one region's replicas from
//!   generated configs: launch, wait for a leader, stop / kill / pause /
//!   restart a node, add one (`--join`), rebuild a stopped one from its
//!   peers under a fresh id (`regiond rebuild`) or forget a removed one,
//!   read its metrics; everything it started is stopped on drop.
//! - [`process`]: [`process::Supervised`], one child process signalled only
//!   by its own pid; free ports, random tokens, finding executables.
//! - [`seed`]: registering warehouses and receiving stock through the APIs.
#![deny(missing_docs)]

pub mod cluster;
pub mod process;
pub mod seed;
