//! What can go wrong, in variants a caller can act on.
//!
//! [`ClientError`] is the outcome of an operation that reached the network:
//! either a replica's definite answer ([`ClientError::Rejected`]) or the
//! reason the client stopped trying, which also says whether a write may
//! have been applied. [`ParseError`] and [`ConfigError`] are about input
//! given before any call.

use std::fmt::Write as _;

use protos::status::ErrorDetail;
use tonic::{Code, Status};

/// A value given to the client (an address, a token, a command id) is not
/// valid. Each variant names what was wrong, for a message to a person.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// An endpoint address is not `host:port`.
    #[error("invalid endpoint {address:?}: {reason}")]
    Endpoint {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A bearer token cannot be sent. The token itself is not repeated.
    #[error("invalid token: {reason}")]
    Token {
        /// What is wrong with it.
        reason: String,
    },
    /// A command id breaks the ledger's rules for ids.
    #[error("invalid command id: {reason}")]
    CommandId {
        /// What is wrong with it.
        reason: String,
    },
}

/// A [`crate::RegionClient`] cannot be built from what it was given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The endpoint list is empty: there is no replica to ask.
    #[error("at least one endpoint is needed")]
    NoEndpoints,
    /// More endpoints than the client keeps (see
    /// [`crate::ENDPOINTS_MAX`]).
    #[error("at most {max} endpoints are allowed, got {count}")]
    TooManyEndpoints {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A [`crate::ClientConfig`] bound is out of range.
    #[error("invalid client setting {field}: {reason}")]
    Setting {
        /// The `ClientConfig` field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// Why an operation failed. Every variant carries the last gRPC status seen,
/// for logs; the variant says what to do.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ClientError {
    /// A replica answered with a status that retrying cannot change
    /// (`INVALID_ARGUMENT`, `FAILED_PRECONDITION`, `ABORTED`,
    /// `ALREADY_EXISTS`, `NOT_FOUND`, `PERMISSION_DENIED`, `UNAUTHENTICATED`,
    /// `OUT_OF_RANGE`, `RESOURCE_EXHAUSTED`, ...). Returned after that one
    /// answer; `detail` is the typed detail, if it carried one.
    #[error("{}", describe_rejection(status, detail.as_ref()))]
    Rejected {
        /// The status as received.
        status: Status,
        /// The typed error detail, decoded; `None` when the status carried
        /// none (or an unreadable one, which is logged).
        detail: Option<ErrorDetail>,
    },
    /// The group's leader could not reach a majority until the deadline.
    /// Whether a write was applied is unknown: retry later with the same
    /// command id.
    #[error(
        "group {group_id:?} has no quorum after {attempts} attempts ({}); \
         whether a write was applied is unknown, retry with the same command id",
        describe_status(last_status)
    )]
    NoQuorum {
        /// The group that has no quorum, as the leader named it.
        group_id: String,
        /// Attempts made.
        attempts: u32,
        /// The last `NoQuorum` status.
        last_status: Status,
    },
    /// The deadline passed after an attempt that may have reached the leader
    /// (it timed out, the connection broke, or the leader answered
    /// `UNAVAILABLE`, `DEADLINE_EXCEEDED` or `CANCELLED`). A write may or may not have been
    /// applied: retry with the same command id to find out.
    #[error(
        "outcome unknown after {attempts} attempts ({}); \
         a write may or may not have been applied, retry with the same command id",
        describe_status(last_status)
    )]
    Indeterminate {
        /// Attempts made.
        attempts: u32,
        /// The last status that left the outcome open (a local
        /// `DEADLINE_EXCEEDED` when an attempt timed out without an answer).
        last_status: Status,
    },
    /// The deadline passed and no attempt reached a leader: every replica
    /// refused the connection or answered `NotLeader`. This call applied
    /// nothing (an earlier call with the same command id may have).
    #[error(
        "no leader reached in {attempts} attempts (last: {}); this call applied nothing",
        describe_status(last_status)
    )]
    Unreachable {
        /// Attempts made.
        attempts: u32,
        /// The status of the last attempt.
        last_status: Status,
    },
}

impl ClientError {
    /// The last status seen: the rejection itself, or the last failure before
    /// giving up.
    pub fn status(&self) -> &Status {
        match self {
            Self::Rejected { status, .. } => status,
            Self::NoQuorum { last_status, .. }
            | Self::Indeterminate { last_status, .. }
            | Self::Unreachable { last_status, .. } => last_status,
        }
    }

    /// The typed detail of a rejection, if any.
    pub fn detail(&self) -> Option<&ErrorDetail> {
        match self {
            Self::Rejected { detail, .. } => detail.as_ref(),
            Self::NoQuorum { .. } | Self::Indeterminate { .. } | Self::Unreachable { .. } => None,
        }
    }

    /// Whether a write sent by this call may have been applied. False only
    /// when the answer (or the lack of any leader) proves it was not: a
    /// rejection with a definite code, or [`ClientError::Unreachable`].
    /// `UNKNOWN`, `INTERNAL` and `DATA_LOSS` rejections are not definite:
    /// the server failed in a way that does not say.
    pub fn may_have_applied(&self) -> bool {
        match self {
            Self::Rejected { status, .. } => matches!(status.code(), Code::Unknown | Code::Internal | Code::DataLoss),
            Self::NoQuorum { .. } | Self::Indeterminate { .. } => true,
            Self::Unreachable { .. } => false,
        }
    }
}

/// The canonical upper-case name of a gRPC status code, as in the gRPC spec
/// (`FAILED_PRECONDITION`), which is what operators search for.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// One line per fact of a typed detail, for people: every short line of an
/// `InsufficientStock`, every field of a `BadRequest`, and so on.
pub fn detail_lines(detail: &ErrorDetail) -> Vec<String> {
    match detail {
        ErrorDetail::NotLeader(not_leader) => {
            let leader = match (&not_leader.leader_id, &not_leader.leader_address) {
                (Some(id), Some(address)) => format!("node {id} at {address}"),
                (Some(id), None) => format!("node {id}, address unknown"),
                (None, Some(address)) => address.clone(),
                (None, None) => "unknown (election in progress?)".to_owned(),
            };
            vec![format!("not the leader of {:?}; leader: {leader}", not_leader.group_id)]
        }
        ErrorDetail::NoQuorum(no_quorum) => {
            vec![format!("group {:?} has no quorum; retry after {} ms", no_quorum.group_id, no_quorum.retry_after_ms)]
        }
        ErrorDetail::InsufficientStock(short) => short
            .lines
            .iter()
            .map(|line| {
                let place = if line.warehouse_id.is_empty() {
                    "across the allowed warehouses".to_owned()
                } else {
                    format!("at {}", line.warehouse_id)
                };
                format!("short: {} {place}: requested {}, available {}", line.sku, line.requested, line.available)
            })
            .collect(),
        ErrorDetail::QuantityMismatch(mismatch) => vec![format!(
            "on_hand of {} at {} is {}, expected {}: re-read the level and decide again",
            mismatch.sku, mismatch.warehouse_id, mismatch.actual, mismatch.expected
        )],
        ErrorDetail::IdempotencyConflict(conflict) => vec![format!(
            "command id {:?} was already used with another payload: a new intent needs a new command id",
            conflict.command_id
        )],
        ErrorDetail::BadRequest(bad) => bad
            .field_violations
            .iter()
            .map(|violation| format!("field {}: {}", violation.field, violation.description))
            .collect(),
    }
}

/// `CODE: message`, the one-line form of a status.
fn describe_status(status: &Status) -> String {
    format!("{}: {}", code_name(status.code()), status.message())
}

/// `rejected: CODE: message`, then one indented line per detail fact.
fn describe_rejection(status: &Status, detail: Option<&ErrorDetail>) -> String {
    let mut text = format!("rejected: {}", describe_status(status));
    for line in detail.map(detail_lines).unwrap_or_default() {
        let _ = write!(text, "\n  {line}");
    }
    text
}

#[cfg(test)]
mod tests {
    use protos::common::{InsufficientStock, ShortLine};

    use super::*;

    #[test]
    fn rejection_lists_every_short_line() {
        let detail = ErrorDetail::from(InsufficientStock {
            lines: vec![
                ShortLine { sku: "SKU-1".to_owned(), warehouse_id: String::new(), requested: 5, available: 2 },
                ShortLine { sku: "SKU-2".to_owned(), warehouse_id: "wh-1".to_owned(), requested: 1, available: 0 },
            ],
        });
        let error =
            ClientError::Rejected { status: detail.clone().into_status("not enough stock"), detail: Some(detail) };
        assert_eq!(
            error.to_string(),
            "rejected: FAILED_PRECONDITION: not enough stock\n  \
             short: SKU-1 across the allowed warehouses: requested 5, available 2\n  \
             short: SKU-2 at wh-1: requested 1, available 0"
        );
        assert!(!error.may_have_applied());
    }

    #[test]
    fn giving_up_says_whether_a_write_may_have_applied() {
        let timed_out = ClientError::Indeterminate { attempts: 4, last_status: Status::deadline_exceeded("slow") };
        assert!(timed_out.may_have_applied());
        assert!(timed_out.to_string().contains("DEADLINE_EXCEEDED: slow"));
        let refused = ClientError::Unreachable { attempts: 3, last_status: Status::unavailable("refused") };
        assert!(!refused.may_have_applied());
        let internal = ClientError::Rejected { status: Status::internal("disk"), detail: None };
        assert!(internal.may_have_applied());
    }
}
