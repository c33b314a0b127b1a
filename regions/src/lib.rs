//! The region node, `regiond`: one replica of a region's Raft group, with
//! the warehouse, reservation and admin gRPC APIs in front of it.
//!
//! # Map
//! - [`config`]: the node's TOML config and its checks.
//! - [`node`]: [`node::RegionNode`], start-up (bootstrap, join, restart),
//!   listeners and shutdown.
//! - [`proposer`]: the write path: concurrent commands batched into one
//!   Raft entry, stamped with leader time ([`clock`]).
//! - [`expiry`]: the leader's `Expire` ticks.
//! - [`region`]: [`region::Region`], propose and read (linearizable by
//!   default) on the hosted replica.
//! - [`auth`]: bearer tokens to principals and what each may touch.
//! - [`api`]: the gRPC services and the status mapping.
//! - [`metrics`]: Prometheus series and the `/metrics` endpoint.
//! - [`rebuild`]: `regiond rebuild`, a damaged or lost replica rebuilt from
//!   its peers under a new node id while the group serves.
//! - [`faults`]: the fault-injection hooks (links, disk, clock), present
//!   only when the node's config enables them.
//!
//! # The path of a write
//! API call → [`auth`] → field checks → [`region::Region::propose`] →
//! [`proposer`] batch (leader time stamped) → openraft `client_write` →
//! replicated and fsynced on a quorum (raft crate) → applied by the
//! ledger on every replica → the result goes back to the caller.
#![deny(missing_docs)]

pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod expiry;
pub mod faults;
pub mod metrics;
pub mod node;
pub mod proposer;
pub mod rebuild;
pub mod region;
#[cfg(feature = "unsafe-test-modes")]
pub mod unsafe_ack;
