//! The retry policy's pure parts: what a failed attempt means, and how long
//! to wait before the next round. No I/O here, so every rule is unit-tested.

use std::error::Error as _;
use std::time::Duration;

use protos::status::ErrorDetail;
use tonic::{Code, Status};

use crate::command_id::random_u64;
use crate::config::ClientConfig;

/// What one failed attempt tells the client about the next one.
#[derive(Clone, Debug)]
pub(crate) enum Failure {
    /// A definite answer that retrying cannot change: stop and report it.
    Rejected {
        /// The status as received.
        status: Status,
        /// Its typed detail, if any.
        detail: Option<ErrorDetail>,
    },
    /// The replica is not the leader; nothing was applied there.
    NotLeader {
        /// The leader's client-facing address, when the replica knows it.
        hint: Option<String>,
        /// The status as received.
        status: Status,
    },
    /// The write was proposed and not committed (no quorum in time, or
    /// leadership moved while it was in flight): its outcome is unknown.
    NoQuorum {
        /// The group, as the leader named it.
        group_id: String,
        /// The new leader's address, when leadership moved and it is known.
        hint: Option<String>,
        /// The leader's suggested wait.
        retry_after: Duration,
        /// The status as received.
        status: Status,
    },
    /// No connection could be made: the request was never sent.
    Unreachable {
        /// The local status tonic made of the connect error.
        status: Status,
    },
    /// The attempt may have reached the leader and failed there or on the
    /// way back (`UNAVAILABLE`, `DEADLINE_EXCEEDED`, a broken connection, no
    /// answer in time): retry, but a write's outcome is unknown until then.
    Transient {
        /// The status as received, or made locally.
        status: Status,
    },
}

impl Failure {
    /// The status behind the failure.
    pub(crate) fn status(&self) -> &Status {
        match self {
            Self::Rejected { status, .. }
            | Self::NotLeader { status, .. }
            | Self::NoQuorum { status, .. }
            | Self::Unreachable { status }
            | Self::Transient { status } => status,
        }
    }

    /// A short name for traces.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Rejected { .. } => "rejected",
            Self::NotLeader { .. } => "not_leader",
            Self::NoQuorum { .. } => "no_quorum",
            Self::Unreachable { .. } => "unreachable",
            Self::Transient { .. } => "transient",
        }
    }
}

/// Reads a failed attempt's status.
///
/// A status tonic made locally from a transport error carries that error as
/// its `source`; one received from a server never does. So a source chain
/// with `tonic::ConnectError` means the request was never sent, any other
/// source means the connection broke mid-call (the request may have
/// arrived), and no source means the server answered.
pub(crate) fn classify(status: Status) -> Failure {
    if let Some(source) = status.source() {
        let mut cause = Some(source);
        while let Some(error) = cause {
            if error.is::<tonic::ConnectError>() {
                return Failure::Unreachable { status };
            }
            cause = error.source();
        }
        return Failure::Transient { status };
    }
    let detail = match ErrorDetail::from_status(&status) {
        Ok(detail) => detail,
        Err(error) => {
            // The status code still decides what to do; the detail is lost.
            tracing::warn!(%error, code = ?status.code(), "unreadable error detail");
            None
        }
    };
    match detail {
        Some(ErrorDetail::NotLeader(not_leader)) => Failure::NotLeader { hint: not_leader.leader_address, status },
        Some(ErrorDetail::NoQuorum(no_quorum)) => Failure::NoQuorum {
            group_id: no_quorum.group_id,
            hint: no_quorum.leader_address,
            retry_after: Duration::from_millis(no_quorum.retry_after_ms),
            status,
        },
        // CANCELLED from a server: its end of the deadline passed, or it is
        // shutting down; either way the outcome is open and a resend safe.
        detail => match status.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => Failure::Transient { status },
            _ => Failure::Rejected { status, detail },
        },
    }
}

/// Whether `status` is tonic's own "Timeout expired", made on this side
/// when the request's gRPC deadline passed before an answer came.
pub(crate) fn is_local_timeout(status: &Status) -> bool {
    let mut cause = status.source();
    while let Some(error) = cause {
        if error.is::<tonic::TimeoutExpired>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// Exponential backoff with jitter between rounds of attempts: each wait is
/// drawn from the upper half of the current step, and the step doubles up to
/// `backoff_max`. The jitter keeps many clients that failed together from
/// retrying together.
#[derive(Debug)]
pub(crate) struct Backoff {
    /// The current step; the next wait is in `step/2..=step`.
    step: Duration,
    /// Cap on the step.
    max: Duration,
}

impl Backoff {
    /// Starts at `config.backoff_min`.
    pub(crate) fn new(config: &ClientConfig) -> Self {
        assert!(!config.backoff_min.is_zero() && config.backoff_min <= config.backoff_max);
        Self { step: config.backoff_min, max: config.backoff_max }
    }

    /// The next wait; doubles the step for the one after.
    pub(crate) fn next_wait(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        let half = step / 2;
        let jitter_ns = random_u64() % (u64::try_from(half.as_nanos()).unwrap_or(u64::MAX).saturating_add(1));
        let wait = half + Duration::from_nanos(jitter_ns);
        debug_assert!(wait <= step && wait >= half);
        wait
    }
}

#[cfg(test)]
mod tests {
    use protos::common::{InsufficientStock, NoQuorum, NotLeader};

    use super::*;

    fn check(status: Status, expect: &str) {
        let failure = classify(status);
        assert_eq!(failure.kind(), expect, "{failure:?}");
    }

    #[test]
    fn statuses_are_classified() {
        let not_leader = |address: Option<&str>| {
            ErrorDetail::from(NotLeader {
                group_id: "region/us-east".to_owned(),
                leader_id: Some(2),
                leader_address: address.map(str::to_owned),
            })
            .into_status("not the leader")
        };
        check(not_leader(Some("10.0.0.2:7000")), "not_leader");
        match classify(not_leader(None)) {
            Failure::NotLeader { hint: None, .. } => {}
            other => panic!("{other:?}"),
        }
        let no_quorum = |retry_after_ms, leader_address: Option<&str>| {
            let leader_address = leader_address.map(str::to_owned);
            ErrorDetail::from(NoQuorum { group_id: "g".to_owned(), retry_after_ms, leader_id: None, leader_address })
                .into_status("x")
        };
        match classify(no_quorum(250, None)) {
            Failure::NoQuorum { retry_after, hint: None, .. } => assert_eq!(retry_after, Duration::from_millis(250)),
            other => panic!("{other:?}"),
        }
        match classify(no_quorum(0, Some("10.0.0.3:7000"))) {
            Failure::NoQuorum { hint: Some(hint), .. } => assert_eq!(hint, "10.0.0.3:7000"),
            other => panic!("{other:?}"),
        }
        check(Status::unavailable("leadership lost"), "transient");
        check(Status::deadline_exceeded("commit too slow"), "transient");
        check(Status::cancelled("Timeout expired"), "transient");
        check(ErrorDetail::from(InsufficientStock { lines: Vec::new() }).into_status("short"), "rejected");
        for code in [
            Code::InvalidArgument,
            Code::FailedPrecondition,
            Code::Aborted,
            Code::AlreadyExists,
            Code::NotFound,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::OutOfRange,
            Code::ResourceExhausted,
            Code::Unimplemented,
            Code::Internal,
        ] {
            check(Status::new(code, "no"), "rejected");
        }
        // An UNAVAILABLE with a broken detail is still retried.
        check(Status::with_details(Code::Unavailable, "x", vec![0xff, 0xff].into()), "transient");
    }

    #[test]
    fn local_transport_errors_are_told_apart() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let connect = Status::from_error(Box::new(tonic::ConnectError(Box::new(refused))));
        check(connect, "unreachable");
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        check(Status::from_error(Box::new(reset)), "transient");
        let timeout = Status::from_error(Box::new(tonic::TimeoutExpired(())));
        assert!(is_local_timeout(&timeout));
        check(timeout, "transient");
        assert!(!is_local_timeout(&Status::cancelled("Timeout expired")));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let config = ClientConfig {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_millis(350),
            ..ClientConfig::default()
        };
        let mut backoff = Backoff::new(&config);
        let steps = [100, 200, 350, 350];
        for step_ms in steps {
            let wait = backoff.next_wait();
            let step = Duration::from_millis(step_ms);
            assert!(wait >= step / 2 && wait <= step, "{wait:?} outside {step:?}/2..={step:?}");
        }
    }
}
