//! A leader-aware client of one region's Raft group, and `ledgerctl`, the
//! command line for people built on it.
//!
//! A region's replicas (`regiond`) serve the warehouse, reservation and admin
//! APIs on one client-facing address each. Only the leader accepts writes and
//! linearizable reads; a follower answers `UNAVAILABLE` with a `NotLeader`
//! detail naming the leader's address, a leader without a majority answers
//! `NoQuorum`, and a write whose outcome is unknown fails with `UNAVAILABLE`
//! or `DEADLINE_EXCEEDED`. Every write carries a `command_id` that the state
//! machine deduplicates, so resending the same request is always safe.
//! [`RegionClient`] turns that protocol into one call that either succeeds,
//! is rejected for a reason, or gives up by a deadline saying whether a write
//! may have been applied.
//!
//! # Layout
//!
//! - [`client`]: [`RegionClient`] and its retry engine: [`RegionClient::call`]
//!   for unary RPCs, [`RegionClient::open_stream`] for server streams,
//!   [`RegionClient::call_endpoint`] for one replica's own view.
//! - [`reserve_batcher`]: [`ReserveBatcher`], many callers' reservations
//!   sent as `ReserveMany` batches (the gateway's hot path).
//! - `retry`: what a failed attempt means (classification) and the backoff;
//!   pure, unit-tested.
//! - [`config`]: [`ClientConfig`], the deadline, attempt timeout and backoff.
//! - [`endpoint`], [`token`], [`command_id`]: the validated values a client
//!   is built from and sends.
//! - [`trace`]: [`TraceContext`], the W3C `traceparent` every call sends,
//!   so its spans join the server's.
//! - [`error`]: [`ClientError`] (what an operation ended with),
//!   [`ParseError`], [`ConfigError`], and readable lines for typed details.
//! - [`cli`]: the whole `ledgerctl` program as a library function
//!   ([`cli::run`]), so it can be run and tested in-process;
//!   `src/bin/ledgerctl.rs` only hands it the process's arguments and
//!   streams.
//!
//! # Example
//!
//! ```no_run
//! use protos::warehouse::GetLevelsRequest;
//! use protos::warehouse::warehouse_inventory_client::WarehouseInventoryClient;
//! use region_client::{BearerToken, ClientConfig, EndpointAddr, RegionClient};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let endpoints = ["10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"]
//!     .into_iter()
//!     .map(EndpointAddr::parse)
//!     .collect::<Result<Vec<_>, _>>()?;
//! let client = RegionClient::new(endpoints, BearerToken::parse("warehouse-token")?, ClientConfig::default())?;
//! let request = GetLevelsRequest { warehouse_id: "wh-1".to_owned(), ..Default::default() };
//! let levels = client
//!     .call("WarehouseInventory/GetLevels", request, |channel, request| async move {
//!         WarehouseInventoryClient::new(channel).get_levels(request).await
//!     })
//!     .await?;
//! # let _ = levels;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod cli;
pub mod client;
pub mod command_id;
pub mod config;
pub mod endpoint;
pub mod error;
pub mod reserve_batcher;
mod retry;
pub mod token;
pub mod trace;

pub use client::{ENDPOINTS_MAX, RegionClient};
pub use command_id::CommandId;
pub use config::ClientConfig;
pub use endpoint::EndpointAddr;
pub use error::{ClientError, ConfigError, ParseError};
pub use reserve_batcher::{BatcherConfig, ReserveBatcher};
pub use token::BearerToken;
pub use trace::TraceContext;
