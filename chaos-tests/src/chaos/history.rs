//! The client-side history of a run: one [`Op`] per operation a workload
//! client invoked, with when it started and ended and what the client saw.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use region_client::ClientError;
use serde::Serialize;

/// What an operation did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OpKind {
    /// `Reservations.Reserve` of `quantity` units of the hot SKU as hold
    /// `hold_id`.
    Reserve {
        /// The client-chosen hold id (fresh per op).
        hold_id: String,
        /// Units asked for.
        quantity: u64,
    },
    /// `WarehouseInventory.AdjustStock` receiving `quantity` units.
    Receive {
        /// Units received.
        quantity: u64,
    },
}

/// How an operation ended, as the client saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Acknowledged: it was applied.
    Ok,
    /// Definitely not applied (a rejection, or no leader was reached).
    Fail,
    /// May or may not have been applied ([`ClientError::may_have_applied`]).
    Indeterminate,
}

impl Outcome {
    /// The outcome of a call that returned `result`.
    pub fn of<T>(result: &Result<T, ClientError>) -> Self {
        match result {
            Ok(_) => Self::Ok,
            Err(error) if error.may_have_applied() => Self::Indeterminate,
            Err(_) => Self::Fail,
        }
    }
}

/// One operation of the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Op {
    /// Unique in the history (also the command id's suffix).
    pub id: u64,
    /// Which client (worker) invoked it.
    pub client: usize,
    /// What it did.
    pub kind: OpKind,
    /// When it was invoked, in microseconds since the run started.
    pub invoke_us: u64,
    /// When the client saw it end, in microseconds since the run started.
    pub complete_us: u64,
    /// What the client saw.
    pub outcome: Outcome,
}

impl Op {
    /// The hold id and quantity if it is a reserve.
    pub fn reserve(&self) -> Option<(&str, u64)> {
        match &self.kind {
            OpKind::Reserve { hold_id, quantity } => Some((hold_id, *quantity)),
            OpKind::Receive { .. } => None,
        }
    }

    /// The quantity if it is a receipt.
    pub fn receive(&self) -> Option<u64> {
        match self.kind {
            OpKind::Receive { quantity } => Some(quantity),
            OpKind::Reserve { .. } => None,
        }
    }
}

/// A history shared by concurrent clients: ids are handed out in order and
/// completed ops appended.
#[derive(Clone, Debug)]
pub struct Recorder {
    start: Instant,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    ops: Vec<Op>,
}

impl Recorder {
    /// An empty history whose clock starts at `start`.
    pub fn new(start: Instant) -> Self {
        Self { start, inner: Arc::default() }
    }

    /// When the history's clock started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Microseconds from the start of the run to now.
    pub fn now_us(&self) -> u64 {
        micros(self.start.elapsed())
    }

    /// A fresh op id.
    pub fn next_id(&self) -> u64 {
        let mut inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.next_id += 1;
        inner.next_id
    }

    /// Appends a completed op.
    pub fn record(&self, op: Op) {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner).ops.push(op);
    }

    /// The ops recorded so far, by op id.
    pub fn snapshot(&self) -> Vec<Op> {
        let mut ops = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner).ops.clone();
        ops.sort_by_key(|op| op.id);
        ops
    }
}

/// A duration in whole microseconds (saturating).
pub fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Counts of a history's ops by outcome: `(ok, fail, indeterminate)`.
pub fn outcome_counts(ops: &[Op]) -> (usize, usize, usize) {
    let count = |outcome| ops.iter().filter(|op| op.outcome == outcome).count();
    (count(Outcome::Ok), count(Outcome::Fail), count(Outcome::Indeterminate))
}

#[cfg(test)]
mod tests {
    use tonic::Status;

    use super::*;

    #[test]
    fn outcomes_follow_may_have_applied() {
        let ok: Result<(), ClientError> = Ok(());
        assert_eq!(Outcome::of(&ok), Outcome::Ok);
        let rejected =
            Err::<(), _>(ClientError::Rejected { status: Status::failed_precondition("short"), detail: None });
        assert_eq!(Outcome::of(&rejected), Outcome::Fail);
        let unreachable = Err::<(), _>(ClientError::Unreachable { attempts: 2, last_status: Status::unavailable("x") });
        assert_eq!(Outcome::of(&unreachable), Outcome::Fail);
        let unknown = Err::<(), _>(ClientError::Indeterminate { attempts: 2, last_status: Status::cancelled("x") });
        assert_eq!(Outcome::of(&unknown), Outcome::Indeterminate);
    }

    #[test]
    fn ids_are_unique_and_snapshots_ordered() {
        let recorder = Recorder::new(Instant::now());
        let (a, b) = (recorder.next_id(), recorder.next_id());
        assert_ne!(a, b);
        for id in [b, a] {
            let kind = OpKind::Receive { quantity: 1 };
            recorder.record(Op { id, client: 0, kind, invoke_us: 0, complete_us: 1, outcome: Outcome::Ok });
        }
        let ids: Vec<u64> = recorder.snapshot().iter().map(|op| op.id).collect();
        assert_eq!(ids, [a, b]);
        assert_eq!(outcome_counts(&recorder.snapshot()), (2, 0, 0));
    }
}
