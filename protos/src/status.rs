//! Typed error details on `tonic::Status`.
//!
//! A status built here carries, in its `details` bytes, a `google.rpc.Status`
//! (same code and message) whose `details` list holds exactly one detail as a
//! `google.protobuf.Any`. That is the standard gRPC "richer error model", so
//! clients in other languages (and `tonic_types::StatusExt` for the standard
//! `BadRequest`) can read the details too.
//!
//! ```
//! use protos::common::NotLeader;
//! use protos::status::ErrorDetail;
//!
//! let detail = NotLeader {
//!     group_id: "region/us-east".to_owned(),
//!     leader_id: Some(2),
//!     leader_address: Some("10.0.0.2:7000".to_owned()),
//! };
//! let status = ErrorDetail::from(detail.clone()).into_status("not the leader");
//! assert_eq!(status.code(), tonic::Code::Unavailable);
//! assert_eq!(
//!     ErrorDetail::from_status(&status),
//!     Ok(Some(ErrorDetail::NotLeader(detail)))
//! );
//! ```

use prost::{Message, Name};
use prost_types::Any;
use tonic::{Code, Status};
use tonic_types::pb;

use crate::common::{IdempotencyConflict, InsufficientStock, ItemError, NoQuorum, NotLeader, QuantityMismatch};

/// The standard `google.rpc.BadRequest` detail: one violation per invalid
/// field of a request.
pub use tonic_types::pb::BadRequest;
/// One invalid field of a request, inside [`BadRequest`].
pub use tonic_types::pb::bad_request::FieldViolation;

/// One typed error detail. Each variant goes with exactly one status code
/// ([`ErrorDetail::code`]); the crate docs say what a caller does with each.
#[derive(Clone, Debug, PartialEq)]
pub enum ErrorDetail {
    /// This replica is not the group's leader; sent with `UNAVAILABLE`.
    NotLeader(NotLeader),
    /// The group has no quorum; sent with `UNAVAILABLE`.
    NoQuorum(NoQuorum),
    /// Not enough stock for some lines; sent with `FAILED_PRECONDITION`.
    InsufficientStock(InsufficientStock),
    /// A compare-and-set saw another quantity; sent with `ABORTED`.
    QuantityMismatch(QuantityMismatch),
    /// A command id was reused with another payload; sent with
    /// `ALREADY_EXISTS`.
    IdempotencyConflict(IdempotencyConflict),
    /// Invalid request fields; sent with `INVALID_ARGUMENT`.
    BadRequest(BadRequest),
}

/// Why the details of a status could not be read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DetailError {
    /// The details bytes, or a typed detail inside them, are not valid
    /// protobuf of the announced type.
    #[error("malformed error details: {0}")]
    Decode(#[from] prost::DecodeError),
    /// A typed detail came with a status code that does not go with it.
    #[error("error detail {detail} came with status code {actual:?}, expected {expected:?}")]
    CodeMismatch {
        /// Full protobuf name of the detail.
        detail: String,
        /// The code that goes with the detail.
        expected: Code,
        /// The code the status had.
        actual: Code,
    },
    /// The status carried more than one typed detail; the contract allows one.
    #[error("status carries {count} typed error details, at most one is allowed")]
    Ambiguous {
        /// How many typed details were found.
        count: usize,
    },
}

impl ErrorDetail {
    /// A [`ErrorDetail::BadRequest`] naming each invalid field and why, e.g.
    /// `("lines[0].quantity", "must be at least 1")`.
    pub fn bad_request<F, D>(violations: impl IntoIterator<Item = (F, D)>) -> Self
    where
        F: Into<String>,
        D: Into<String>,
    {
        let field_violations = violations
            .into_iter()
            .map(|(field, description)| FieldViolation {
                field: field.into(),
                description: description.into(),
                ..FieldViolation::default()
            })
            .collect();
        Self::BadRequest(BadRequest { field_violations })
    }

    /// The status code this detail is sent with.
    pub fn code(&self) -> Code {
        match self {
            Self::NotLeader(_) | Self::NoQuorum(_) => Code::Unavailable,
            Self::InsufficientStock(_) => Code::FailedPrecondition,
            Self::QuantityMismatch(_) => Code::Aborted,
            Self::IdempotencyConflict(_) => Code::AlreadyExists,
            Self::BadRequest(_) => Code::InvalidArgument,
        }
    }

    /// A status with this detail's code, `message`, and the detail attached.
    pub fn into_status(self, message: impl Into<String>) -> Status {
        let code = self.code();
        let message = message.into();
        let rich = pb::Status { code: code as i32, message: message.clone(), details: vec![self.into_any()] };
        Status::with_details(code, message, rich.encode_to_vec().into())
    }

    /// The typed detail carried by `status`, if any.
    ///
    /// Returns `Ok(None)` when the status has no details or only details this
    /// crate does not know (they are skipped, so peers may add standard ones
    /// such as `RetryInfo`). Fails when the details are malformed, when more
    /// than one typed detail is present, or when the detail came with a status
    /// code that does not go with it.
    pub fn from_status(status: &Status) -> Result<Option<Self>, DetailError> {
        if status.details().is_empty() {
            return Ok(None);
        }
        let rich = pb::Status::decode(status.details())?;
        let mut found = Vec::with_capacity(1);
        for any in &rich.details {
            if let Some(detail) = Self::from_any(any)? {
                found.push(detail);
            }
        }
        if found.len() > 1 {
            return Err(DetailError::Ambiguous { count: found.len() });
        }
        let Some(detail) = found.pop() else {
            return Ok(None);
        };
        if detail.code() != status.code() {
            return Err(DetailError::CodeMismatch {
                detail: detail.full_name(),
                expected: detail.code(),
                actual: status.code(),
            });
        }
        Ok(Some(detail))
    }

    /// Full protobuf name of the detail's message.
    fn full_name(&self) -> String {
        match self {
            Self::NotLeader(_) => NotLeader::full_name(),
            Self::NoQuorum(_) => NoQuorum::full_name(),
            Self::InsufficientStock(_) => InsufficientStock::full_name(),
            Self::QuantityMismatch(_) => QuantityMismatch::full_name(),
            Self::IdempotencyConflict(_) => IdempotencyConflict::full_name(),
            Self::BadRequest(_) => BAD_REQUEST_FULL_NAME.to_owned(),
        }
    }

    fn into_any(self) -> Any {
        match self {
            Self::NotLeader(detail) => typed_any(&detail),
            Self::NoQuorum(detail) => typed_any(&detail),
            Self::InsufficientStock(detail) => typed_any(&detail),
            Self::QuantityMismatch(detail) => typed_any(&detail),
            Self::IdempotencyConflict(detail) => typed_any(&detail),
            Self::BadRequest(detail) => {
                Any { type_url: tonic_types::BadRequest::TYPE_URL.to_owned(), value: detail.encode_to_vec() }
            }
        }
    }

    /// Decodes `any` if its type is one of ours; `Ok(None)` for other types.
    fn from_any(any: &Any) -> Result<Option<Self>, prost::DecodeError> {
        // An Any's type is the last segment of its URL; the domain in front
        // of it varies between implementations and is not compared.
        let name = any.type_url.rsplit('/').next().unwrap_or_default();
        let value = any.value.as_slice();
        let detail = if name == NotLeader::full_name() {
            Self::NotLeader(NotLeader::decode(value)?)
        } else if name == NoQuorum::full_name() {
            Self::NoQuorum(NoQuorum::decode(value)?)
        } else if name == InsufficientStock::full_name() {
            Self::InsufficientStock(InsufficientStock::decode(value)?)
        } else if name == QuantityMismatch::full_name() {
            Self::QuantityMismatch(QuantityMismatch::decode(value)?)
        } else if name == IdempotencyConflict::full_name() {
            Self::IdempotencyConflict(IdempotencyConflict::decode(value)?)
        } else if name == BAD_REQUEST_FULL_NAME {
            Self::BadRequest(BadRequest::decode(value)?)
        } else {
            return Ok(None);
        };
        Ok(Some(detail))
    }
}

impl From<&Status> for ItemError {
    /// How a batch call carries one item's failure: code, message and
    /// details bytes as they are, so nothing a single call would say is lost.
    fn from(status: &Status) -> Self {
        Self { code: status.code() as i32, message: status.message().to_owned(), details: status.details().to_vec() }
    }
}

impl From<ItemError> for Status {
    /// The status a single call would have failed with; read its typed
    /// detail with [`ErrorDetail::from_status`] as for any other status.
    fn from(error: ItemError) -> Self {
        Status::with_details(Code::from_i32(error.code), error.message, error.details.into())
    }
}

/// Full protobuf name of `google.rpc.BadRequest` (tonic-types' generated
/// messages carry no `prost::Name`).
const BAD_REQUEST_FULL_NAME: &str = "google.rpc.BadRequest";

fn typed_any<M: Name>(detail: &M) -> Any {
    Any { type_url: M::type_url(), value: detail.encode_to_vec() }
}

impl From<NotLeader> for ErrorDetail {
    fn from(detail: NotLeader) -> Self {
        Self::NotLeader(detail)
    }
}

impl From<NoQuorum> for ErrorDetail {
    fn from(detail: NoQuorum) -> Self {
        Self::NoQuorum(detail)
    }
}

impl From<InsufficientStock> for ErrorDetail {
    fn from(detail: InsufficientStock) -> Self {
        Self::InsufficientStock(detail)
    }
}

impl From<QuantityMismatch> for ErrorDetail {
    fn from(detail: QuantityMismatch) -> Self {
        Self::QuantityMismatch(detail)
    }
}

impl From<IdempotencyConflict> for ErrorDetail {
    fn from(detail: IdempotencyConflict) -> Self {
        Self::IdempotencyConflict(detail)
    }
}

impl From<BadRequest> for ErrorDetail {
    fn from(detail: BadRequest) -> Self {
        Self::BadRequest(detail)
    }
}

#[cfg(test)]
mod tests {
    use tonic_types::StatusExt as _;

    use super::*;
    use crate::common::ShortLine;

    /// Round-trips `detail` through a status and checks the code it got.
    fn check(detail: impl Into<ErrorDetail>, code: Code) {
        let detail = detail.into();
        let status = detail.clone().into_status("boom");
        assert_eq!(status.code(), code);
        assert_eq!(status.message(), "boom");
        assert_eq!(ErrorDetail::from_status(&status), Ok(Some(detail)));
    }

    #[test]
    fn an_item_error_carries_a_status_whole() {
        let detail = ErrorDetail::from(InsufficientStock {
            lines: vec![ShortLine { sku: "s-1".into(), warehouse_id: String::new(), requested: 3, available: 1 }],
        });
        let status = detail.clone().into_status("short of stock");
        let back = Status::from(ItemError::from(&status));
        assert_eq!((back.code(), back.message()), (Code::FailedPrecondition, "short of stock"));
        assert_eq!(ErrorDetail::from_status(&back), Ok(Some(detail)));
        let plain = Status::from(ItemError::from(&Status::not_found("no such hold")));
        assert_eq!((plain.code(), plain.message(), plain.details().is_empty()), (Code::NotFound, "no such hold", true));
    }

    #[test]
    fn every_detail_round_trips_with_its_code() {
        check(
            NotLeader {
                group_id: "region/us-east".to_owned(),
                leader_id: Some(3),
                leader_address: Some("127.0.0.1:7003".to_owned()),
            },
            Code::Unavailable,
        );
        check(NotLeader { group_id: "catalog".to_owned(), leader_id: None, leader_address: None }, Code::Unavailable);
        check(
            NoQuorum { group_id: "region/eu-west".to_owned(), retry_after_ms: 500, ..Default::default() },
            Code::Unavailable,
        );
        check(
            InsufficientStock {
                lines: vec![
                    ShortLine { sku: "SKU-1".to_owned(), warehouse_id: String::new(), requested: 5, available: 2 },
                    ShortLine { sku: "SKU-2".to_owned(), warehouse_id: "wh-1".to_owned(), requested: 1, available: 0 },
                ],
            },
            Code::FailedPrecondition,
        );
        check(
            QuantityMismatch { warehouse_id: "wh-1".to_owned(), sku: "SKU-1".to_owned(), expected: 10, actual: 9 },
            Code::Aborted,
        );
        check(IdempotencyConflict { command_id: "cmd-42".to_owned() }, Code::AlreadyExists);
        check(
            ErrorDetail::bad_request([
                ("lines[0].quantity", "must be at least 1"),
                ("ttl_ms", "must be between 1000 and 3600000"),
            ]),
            Code::InvalidArgument,
        );
    }

    #[test]
    fn bad_request_is_readable_by_standard_clients() {
        let status = ErrorDetail::bad_request([("sku", "must not be empty")]).into_status("bad");
        let standard = status.get_details_bad_request().expect("tonic-types reads the BadRequest detail");
        assert_eq!(standard.field_violations.len(), 1);
        assert_eq!(standard.field_violations[0].field, "sku");
        assert_eq!(standard.field_violations[0].description, "must not be empty");
    }

    #[test]
    fn status_without_typed_detail_reads_none() {
        assert_eq!(ErrorDetail::from_status(&Status::not_found("no such hold")), Ok(None));
        let foreign = pb::Status {
            code: Code::Unavailable as i32,
            message: "retry".to_owned(),
            details: vec![Any { type_url: "type.googleapis.com/google.rpc.RetryInfo".to_owned(), value: Vec::new() }],
        };
        let status = Status::with_details(Code::Unavailable, "retry", foreign.encode_to_vec().into());
        assert_eq!(ErrorDetail::from_status(&status), Ok(None));
    }

    #[test]
    fn malformed_details_are_an_error() {
        let status = Status::with_details(Code::Unavailable, "x", vec![0xff, 0xff].into());
        assert!(matches!(ErrorDetail::from_status(&status), Err(DetailError::Decode(_))));
    }

    #[test]
    fn detail_with_the_wrong_code_is_an_error() {
        let detail = ErrorDetail::from(IdempotencyConflict { command_id: "cmd-1".to_owned() });
        let rich =
            pb::Status { code: Code::Internal as i32, message: "x".to_owned(), details: vec![detail.into_any()] };
        let status = Status::with_details(Code::Internal, "x", rich.encode_to_vec().into());
        assert_eq!(
            ErrorDetail::from_status(&status),
            Err(DetailError::CodeMismatch {
                detail: "inventory.v1.common.IdempotencyConflict".to_owned(),
                expected: Code::AlreadyExists,
                actual: Code::Internal,
            })
        );
    }

    #[test]
    fn two_typed_details_are_an_error() {
        let quorum = |group: &str| {
            ErrorDetail::from(NoQuorum { group_id: group.to_owned(), retry_after_ms: 1, ..Default::default() })
                .into_any()
        };
        let rich = pb::Status {
            code: Code::Unavailable as i32,
            message: "x".to_owned(),
            details: vec![quorum("a"), quorum("b")],
        };
        let status = Status::with_details(Code::Unavailable, "x", rich.encode_to_vec().into());
        assert_eq!(ErrorDetail::from_status(&status), Err(DetailError::Ambiguous { count: 2 }));
    }
}
