//! The gRPC contracts of the inventory ledger: protobuf messages and tonic
//! clients/servers for every surface, plus typed error details.
//!
//! The `.proto` files in `protos/proto/` are the source of truth; `build.rs`
//! compiles them with the vendored protoc (`protoc-bin-vendored`), so the
//! build needs no system protoc. Proto comments become the Rust docs below.
//!
//! # Layout
//!
//! One module per proto package (`inventory.v1.<name>`), each generated from
//! `proto/<name>.proto`:
//!
//! - [`common`]: shared messages (paging, money, order status, short lines)
//!   and the typed error details.
//! - [`raft`]: `RaftTransport`, the node-to-node Raft RPCs. Internal only,
//!   never exposed to clients. openraft payloads travel as opaque bytes
//!   encoded by the `raft` crate.
//! - [`warehouse`]: `WarehouseInventory`, the warehouse API (adjustments,
//!   cycle counts, levels, journal, shipments, transfers, level stream).
//! - [`reservation`]: `Reservations`, the region API the gateway calls (holds,
//!   carts, checkout records, orders).
//! - [`catalog`]: `Catalog`, products, sellers, categories, reviews and the
//!   change feed that feeds the gateway's search index.
//! - [`admin`]: `Admin`, group status, membership, leadership, snapshots,
//!   warehouse registration and config-gated fault injection.
//! - [`status`]: building and reading `tonic::Status` values that carry the
//!   typed error details.
//!
//! Each generated module holds the messages, a `<service>_client` module with
//! the tonic client and a `<service>_server` module with the server trait.
//!
//! # Errors on the wire
//!
//! A failing RPC returns a gRPC status whose `details` bytes are a
//! `google.rpc.Status` holding at most one typed detail as a
//! `google.protobuf.Any`. Each detail goes with exactly one status code:
//!
//! | detail                         | status code           | what the caller does                          |
//! |--------------------------------|-----------------------|-----------------------------------------------|
//! | [`common::NotLeader`]          | `UNAVAILABLE`         | retry at the leader, same `command_id`        |
//! | [`common::NoQuorum`]           | `UNAVAILABLE`         | back off `retry_after_ms`, same `command_id`  |
//! | [`common::InsufficientStock`]  | `FAILED_PRECONDITION` | report the short lines; nothing was applied   |
//! | [`common::QuantityMismatch`]   | `ABORTED`             | re-read and decide again (compare-and-set)    |
//! | [`common::IdempotencyConflict`]| `ALREADY_EXISTS`      | a new intent needs a new `command_id`         |
//! | `google.rpc.BadRequest`        | `INVALID_ARGUMENT`    | fix the named fields                          |
//!
//! Other failures use a bare status code: `NOT_FOUND` (unknown id),
//! `ALREADY_EXISTS` without a detail (a new hold, order, checkout or
//! warehouse id that is taken), `FAILED_PRECONDITION` without a detail (a
//! state transition that does not apply, such as committing an ended hold),
//! `OUT_OF_RANGE` (a quantity would pass the ledger's bound),
//! `PERMISSION_DENIED` / `UNAUTHENTICATED` (auth), `RESOURCE_EXHAUSTED`
//! (overload or a lagging watcher), `UNIMPLEMENTED` (fault injection on a node
//! that did not enable it).
//! [`status::ErrorDetail`] builds and reads the typed ones.
//!
//! # Idempotency
//!
//! Every mutating request carries a client-chosen `command_id`: the same id
//! with the same payload returns the stored result, the same id with a
//! different payload fails with `ALREADY_EXISTS` + `IdempotencyConflict`.
//!
//! Architecture Invariant: this crate holds wire types only. Conversions to
//! the ledger's domain types live with their users, not here.

#![deny(missing_docs)]

/// Shared messages and typed error details (`inventory.v1.common`).
pub mod common {
    tonic::include_proto!("inventory.v1.common");
}

/// Node-to-node Raft transport (`inventory.v1.raft`). Internal only: never
/// exposed to clients.
pub mod raft {
    tonic::include_proto!("inventory.v1.raft");
}

/// The warehouse API (`inventory.v1.warehouse`).
pub mod warehouse {
    tonic::include_proto!("inventory.v1.warehouse");
}

/// Holds, carts, checkout records and orders of a region
/// (`inventory.v1.reservation`).
pub mod reservation {
    tonic::include_proto!("inventory.v1.reservation");

    /// Most reservations in one `ReserveMany` call (`ReserveManyRequest`'s
    /// contract): the region refuses more, and a client never sends more.
    pub const RESERVE_MANY_MAX: usize = 1_000;
}

/// Products, sellers, categories, reviews and the catalog change feed
/// (`inventory.v1.catalog`).
pub mod catalog {
    tonic::include_proto!("inventory.v1.catalog");
}

/// Node administration and fault injection (`inventory.v1.admin`).
pub mod admin {
    tonic::include_proto!("inventory.v1.admin");
}

pub mod status;
