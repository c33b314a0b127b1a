//! The client-facing gRPC services of a node, all on its API listener:
//!
//! - [`warehouse`]: `WarehouseInventory`, for warehouses (their own stock).
//! - [`reservations`]: `Reservations`, for the gateway (holds, carts,
//!   checkouts, orders).
//! - [`admin`]: `Admin`, for operators (status, membership, leadership,
//!   snapshots, warehouse registration, fault injection when enabled).
//!
//! Every call goes through [`ApiContext`]: authenticate the bearer token,
//! check the caller may touch what it names, then propose a command (writes)
//! or read the applied ledger (linearizably unless the caller asks for a
//! stale read). [`status`] turns every failure into the status and typed
//! detail the protos promise.

pub mod admin;
pub mod convert;
pub mod reservations;
pub mod status;
pub mod warehouse;

use std::sync::Arc;

use ledger::ids::CommandId;
use ledger::{Command, Ledger, Outcome};
use tonic::Status;

use crate::auth::{Principal, Tokens};
use crate::region::{Consistency, Read, Region};

/// Longest command id accepted, in bytes (see `common.proto`).
pub const MAX_ID_BYTES: usize = 255;

/// What every service needs: the hosted region and the accepted tokens.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct ApiContext {
    /// The group replica this node hosts.
    pub region: Region,
    /// The tokens this node accepts.
    pub tokens: Arc<Tokens>,
}

/// A write the ledger applied: its outcome and the entry's log index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// What the command did.
    pub outcome: Outcome,
    /// Raft log index of the entry that carried it.
    pub applied_index: u64,
    /// Whether this was a retry answered from the idempotency record.
    pub replayed: bool,
}

impl ApiContext {
    /// The caller of `request`.
    pub fn authenticate<T>(&self, request: &tonic::Request<T>) -> Result<Principal, Status> {
        self.tokens.authenticate(request)
    }

    /// Proposes `command` under the client's `command_id` on behalf of
    /// `principal` and waits until it applied. A rejection by the ledger is
    /// returned as its status; nothing changed then.
    ///
    /// Records the command id and its log index on the call's `api` span,
    /// joining the caller's trace to every replica's `apply` span.
    pub async fn write(&self, principal: &Principal, command_id: &str, command: Command) -> Result<Written, Status> {
        let id = command_id_of(command_id)?;
        let span = tracing::Span::current();
        span.record("command_id", command_id);
        let committed = self
            .region
            .propose(id, principal.actor().into(), command)
            .await
            .map_err(|error| status::propose_failed(&self.region, error))?;
        span.record("index", committed.index);
        let outcome = committed.result.result.map_err(status::rejected)?;
        Ok(Written { outcome, applied_index: committed.index, replayed: committed.result.replayed })
    }

    /// Reads the applied ledger with `consistency`.
    pub async fn read<T>(&self, consistency: Consistency, f: impl FnOnce(&Ledger) -> T) -> Result<Read<T>, Status> {
        self.region.read(consistency, f).await.map_err(|error| status::read_failed(&self.region, error))
    }
}

/// Checks a client's command id: non-empty, at most [`MAX_ID_BYTES`], no
/// control characters.
pub fn command_id_of(command_id: &str) -> Result<CommandId, Status> {
    if command_id.is_empty() {
        return Err(status::invalid_field("command_id", "is empty; every mutating request needs a client-chosen id"));
    }
    if command_id.len() > MAX_ID_BYTES {
        return Err(status::invalid_field("command_id", format!("is longer than {MAX_ID_BYTES} bytes")));
    }
    if command_id.chars().any(char::is_control) {
        return Err(status::invalid_field("command_id", "contains control characters"));
    }
    Ok(command_id.into())
}
