//! One place that turns every failure of the API into a gRPC status with
//! the typed detail the protos promise (see the `protos` crate docs).

use ledger::Rejection;
use protos::common::{IdempotencyConflict, InsufficientStock, NoQuorum, NotLeader, QuantityMismatch, ShortLine};
use protos::status::ErrorDetail;
use tonic::Status;

use crate::proposer::{LeaderHint, ProposeError};
use crate::region::{ReadError, Region};

/// How long a client should wait before retrying when the group has no
/// quorum or is electing.
const RETRY_AFTER_MS: u64 = 500;

/// `UNAVAILABLE` with a `NotLeader` detail naming the leader, if known.
pub fn not_leader(region: &Region, hint: LeaderHint) -> Status {
    let hint = freshest(region, hint);
    let message = match (&hint.node_id, &hint.api_addr) {
        (Some(id), Some(addr)) => {
            format!("node {} is not the leader of `{}`; node {id} at {addr} is", region.node_id(), region.group())
        }
        _ => format!(
            "node {} is not the leader of `{}`, and no leader is known yet (election)",
            region.node_id(),
            region.group()
        ),
    };
    ErrorDetail::NotLeader(NotLeader {
        group_id: region.group().to_string(),
        leader_id: hint.node_id,
        leader_address: hint.api_addr,
    })
    .into_status(message)
}

/// `UNAVAILABLE` with a `NoQuorum` detail: retry after [`RETRY_AFTER_MS`].
pub fn no_quorum(region: &Region, message: impl Into<String>) -> Status {
    no_quorum_detail(region, RETRY_AFTER_MS, LeaderHint::default(), message)
}

/// `UNAVAILABLE` with a `NoQuorum` detail for a write whose leader lost
/// leadership while it was in flight: the new leader when known, to retry
/// there at once (a hand-over takes milliseconds; waiting the no-quorum
/// [`RETRY_AFTER_MS`] made every hand-over under load a half-second stall).
fn leadership_moved(region: &Region, hint: LeaderHint, message: String) -> Status {
    no_quorum_detail(region, 0, freshest(region, hint), message)
}

/// The one `NoQuorum` status: retry after `retry_after_ms`, at `hint`'s
/// leader if it names one.
fn no_quorum_detail(region: &Region, retry_after_ms: u64, hint: LeaderHint, message: impl Into<String>) -> Status {
    ErrorDetail::NoQuorum(NoQuorum {
        group_id: region.group().to_string(),
        retry_after_ms,
        leader_id: hint.node_id,
        leader_address: hint.api_addr,
    })
    .into_status(message)
}

/// An error's leader hint, which is as of the failure, or what the replica
/// knows now if the error named no leader.
fn freshest(region: &Region, hint: LeaderHint) -> LeaderHint {
    if hint.node_id.is_some() { hint } else { region.leader_hint() }
}

/// The message of a write whose outcome is open.
fn outcome_open(error: &ProposeError) -> String {
    format!("{error}; retry with the same command_id to learn the outcome")
}

/// The status of a write that did not (or may not have) applied.
pub fn propose_failed(region: &Region, error: ProposeError) -> Status {
    match error {
        ProposeError::NotLeader(hint) => not_leader(region, hint),
        ProposeError::Indeterminate(ref hint) => leadership_moved(region, hint.clone(), outcome_open(&error)),
        ProposeError::TimedOut(_) => no_quorum(region, outcome_open(&error)),
        ProposeError::Overloaded => Status::resource_exhausted(error.to_string()),
        ProposeError::Stopped(_) => Status::unavailable(error.to_string()),
    }
}

/// The status of a read that could not be served.
pub fn read_failed(region: &Region, error: ReadError) -> Status {
    match error {
        ReadError::NotLeader(hint) => not_leader(region, hint),
        ReadError::NoQuorum(_) => no_quorum(region, error.to_string()),
        ReadError::Stopped(_) => Status::unavailable(error.to_string()),
    }
}

/// The status of a command the ledger rejected; nothing changed.
pub fn rejected(rejection: Rejection) -> Status {
    let message = rejection.to_string();
    match rejection {
        Rejection::InvalidInput { field, reason } => ErrorDetail::bad_request([(field, reason)]).into_status(message),
        Rejection::IdempotencyConflict { command_id } => {
            ErrorDetail::IdempotencyConflict(IdempotencyConflict { command_id: command_id.to_string() })
                .into_status(message)
        }
        Rejection::QuantityMismatch { sku, warehouse, expected, actual } => {
            ErrorDetail::QuantityMismatch(QuantityMismatch {
                warehouse_id: warehouse.to_string(),
                sku: sku.to_string(),
                expected,
                actual,
            })
            .into_status(message)
        }
        Rejection::InsufficientStock { lines } => ErrorDetail::InsufficientStock(InsufficientStock {
            lines: lines
                .into_iter()
                .map(|line| ShortLine {
                    sku: line.sku.to_string(),
                    warehouse_id: line.warehouse.map(|w| w.to_string()).unwrap_or_default(),
                    requested: line.requested,
                    available: line.available,
                })
                .collect(),
        })
        .into_status(message),
        Rejection::QuantityOverflow { .. } => Status::out_of_range(message),
        Rejection::UnknownWarehouse { .. }
        | Rejection::UnknownHold { .. }
        | Rejection::UnknownOrder { .. }
        | Rejection::UnknownCheckout { .. } => Status::not_found(message),
        Rejection::WarehouseExists { .. }
        | Rejection::HoldExists { .. }
        | Rejection::OrderExists { .. }
        | Rejection::CheckoutExists { .. } => Status::already_exists(message),
        Rejection::WrongRegion { .. } => ErrorDetail::bad_request([("region", message.clone())]).into_status(message),
        Rejection::HoldNotPending { .. }
        | Rejection::InvalidTransition { .. }
        | Rejection::NothingToShip { .. }
        | Rejection::ReturnExceedsShipped { .. }
        | Rejection::CartFull { .. } => Status::failed_precondition(message),
    }
}

/// `INVALID_ARGUMENT` naming one bad field of a request.
pub fn invalid_field(field: impl Into<String>, reason: impl Into<String>) -> Status {
    let (field, reason) = (field.into(), reason.into());
    let message = format!("invalid {field}: {reason}");
    ErrorDetail::bad_request([(field, reason)]).into_status(message)
}
