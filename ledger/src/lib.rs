//! The inventory ledger: the deterministic state machine each region's Raft
//! group replicates.
//!
//! It owns a region's warehouses, stock levels and their journal, holds,
//! orders, carts and checkout records. It is a pure, synchronous machine:
//! [`Ledger::apply`] takes an [`Envelope`] (a command with its idempotency
//! id and the leader-stamped time) and returns what happened. It does no
//! I/O, reads no clock, draws no random numbers and never panics on input,
//! so every replica that applies the same log reaches the same state, bit
//! for bit ([`Ledger::state_hash`]).
//!
//! # Invariants
//! - `available = on_hand − damaged − safety_stock − held − allocated >= 0`
//!   for every `(sku, warehouse)` after every command: a command that would
//!   break it is rejected with the shortfall, whole, changing nothing.
//! - Balances equal the sum of the journal; claims equal the sum of pending
//!   holds and unshipped orders ([`Ledger::check_invariants`]).
//! - A hold ends exactly once; it stops counting at its deadline.
//! - A command id is applied at most once within the retention window.
//!
//! # Layout
//! - [`command`]: the input language ([`Envelope`], [`Command`]).
//! - [`ledger`](Ledger): the state and `apply`, the single entry point.
//! - [`stock`]: warehouses, levels, the journal, adjustments and transfers.
//! - [`holds`]: reserve, commit, release, expiry.
//! - [`orders`]: the fulfilment status machine, shipping, cancel, returns.
//! - [`carts`], [`checkouts`]: shopper carts and the checkout saga's log.
//! - [`idempotency`]: the `id -> (digest, result)` table.
//! - [`snapshot`]: self-checking snapshot bytes and the state hash.
//! - [`invariants`]: the full audit of the state.

#![deny(missing_docs)]

pub mod carts;
pub mod checkouts;
pub mod command;
mod history;
mod history_index;
pub mod holds;
pub mod idempotency;
pub mod ids;
pub mod invariants;
mod ledger;
pub mod orders;
pub mod outcome;
mod persistent;
pub mod quantity;
pub mod rejection;
mod sharded_map;
pub mod snapshot;
pub mod stock;

pub use crate::command::{Command, Envelope};
pub use crate::ledger::{Ledger, LedgerConfig};
pub use crate::outcome::{Applied, CommandResult, Outcome};
pub use crate::rejection::Rejection;
