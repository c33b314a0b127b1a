//! The client-side history of a run: one [`Op`] per operation a workload
//! client invoked, with when it started and ended and what the client saw.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use region_client::ClientError;
use serde::Serialize;

/// Why a workload adjusted stock (the subset of `AdjustmentReason` the
/// workloads send).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Adjustment {
    /// `RECEIVED`: on_hand grows by the quantity.
    Receive,
    /// `DAMAGED`: the quantity moves into the damaged bucket (on_hand stays).
    Damage,
    /// `SHRINK`: on_hand shrinks by the quantity.
    Shrink,
}

/// A stock level as a client read it (or as the final phase read it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Level {
    /// The SKU.
    pub sku: String,
    /// The warehouse.
    pub warehouse: String,
    /// Units physically present (damaged and safety stock included).
    pub on_hand: u64,
    /// Units of on_hand that are damaged.
    pub damaged: u64,
    /// Units of on_hand kept back from sale.
    pub safety_stock: u64,
    /// Units claimed by pending holds.
    pub held: u64,
    /// Units claimed by confirmed, unshipped orders.
    pub allocated: u64,
    /// What a new reservation may take, as the ledger reported it.
    pub available: u64,
}

impl Level {
    /// Units that may not be sold again: damaged, safety stock, held and
    /// allocated. The ledger's invariant is `claimed() <= on_hand`.
    pub fn claimed(&self) -> u64 {
        self.damaged.saturating_add(self.safety_stock).saturating_add(self.held).saturating_add(self.allocated)
    }
}

/// What an operation did. Every mutating kind names its `command_id`: the
/// idempotence workload sends one command several times, each submission
/// its own [`Op`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OpKind {
    /// `Reservations.Reserve` of `quantity` units of `sku` (split allowed
    /// over the region's warehouses) as hold `hold_id`.
    Reserve {
        /// The idempotency key.
        command_id: String,
        /// The client-chosen hold id (one per reserve command).
        hold_id: String,
        /// The SKU.
        sku: String,
        /// Units asked for.
        quantity: u64,
        /// The hold's time to live; short ones are left to expire.
        ttl_ms: u64,
    },
    /// `Reservations.CommitHold` of `hold_id` into order `order_id`.
    Commit {
        /// The idempotency key.
        command_id: String,
        /// The hold committed.
        hold_id: String,
        /// The order it becomes.
        order_id: String,
    },
    /// `Reservations.ReleaseHold` of `hold_id`.
    Release {
        /// The idempotency key.
        command_id: String,
        /// The hold released.
        hold_id: String,
    },
    /// `WarehouseInventory.AdjustStock` of `quantity` units for `reason`.
    Adjust {
        /// The idempotency key.
        command_id: String,
        /// The warehouse adjusted.
        warehouse: String,
        /// The SKU.
        sku: String,
        /// Why.
        reason: Adjustment,
        /// Units.
        quantity: u64,
    },
    /// `WarehouseInventory.Transfer` of `quantity` units between two
    /// warehouses of the region.
    Transfer {
        /// The idempotency key.
        command_id: String,
        /// The sender.
        from: String,
        /// The receiver.
        to: String,
        /// The SKU.
        sku: String,
        /// Units.
        quantity: u64,
    },
    /// `WarehouseInventory.ConfirmShipment` of `order_id`'s lines at
    /// `warehouse`.
    Ship {
        /// The idempotency key.
        command_id: String,
        /// The shipping warehouse.
        warehouse: String,
        /// The order shipped.
        order_id: String,
    },
    /// A linearizable `WarehouseInventory.GetLevels` (stale = false) of one
    /// SKU at one warehouse; `level` is what was read (`None` unless ok).
    Read {
        /// The SKU.
        sku: String,
        /// The warehouse.
        warehouse: String,
        /// The value read.
        level: Option<Level>,
    },
}

impl OpKind {
    /// The idempotency key of a mutating op; `None` for reads.
    pub fn command_id(&self) -> Option<&str> {
        match self {
            Self::Reserve { command_id, .. }
            | Self::Commit { command_id, .. }
            | Self::Release { command_id, .. }
            | Self::Adjust { command_id, .. }
            | Self::Transfer { command_id, .. }
            | Self::Ship { command_id, .. } => Some(command_id),
            Self::Read { .. } => None,
        }
    }

    /// The hold a reserve, commit or release acts on.
    pub fn hold_id(&self) -> Option<&str> {
        match self {
            Self::Reserve { hold_id, .. } | Self::Commit { hold_id, .. } | Self::Release { hold_id, .. } => {
                Some(hold_id)
            }
            Self::Adjust { .. } | Self::Transfer { .. } | Self::Ship { .. } | Self::Read { .. } => None,
        }
    }
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
    /// Unique in the run.
    pub id: u64,
    /// The region (Raft group) it was sent to.
    pub region: String,
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
    /// The error the client saw, when not ok: the gRPC code name of a
    /// rejection (`FAILED_PRECONDITION`), or `UNREACHABLE`, `NO_QUORUM`,
    /// `INDETERMINATE`.
    pub error: Option<String>,
}

impl Op {
    /// The hold id, SKU and quantity if it is a reserve.
    pub fn reserve(&self) -> Option<(&str, &str, u64)> {
        match &self.kind {
            OpKind::Reserve { hold_id, sku, quantity, .. } => Some((hold_id, sku, *quantity)),
            _ => None,
        }
    }
}

/// [`Op::error`] of a call that reached no leader.
pub const UNREACHABLE: &str = "UNREACHABLE";

/// The [`Op::error`] of a call that returned `result`.
pub fn error_name<T>(result: &Result<T, ClientError>) -> Option<String> {
    let error = result.as_ref().err()?;
    Some(match error {
        ClientError::Rejected { status, .. } => region_client::error::code_name(status.code()).to_owned(),
        ClientError::Unreachable { .. } => UNREACHABLE.to_owned(),
        ClientError::NoQuorum { .. } => "NO_QUORUM".to_owned(),
        ClientError::Indeterminate { .. } => "INDETERMINATE".to_owned(),
    })
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
        assert_eq!(error_name(&rejected).as_deref(), Some("FAILED_PRECONDITION"));
        assert_eq!(error_name(&unreachable).as_deref(), Some(UNREACHABLE));
        assert_eq!(error_name(&ok), None);
    }

    #[test]
    fn ids_are_unique_and_snapshots_ordered() {
        let recorder = Recorder::new(Instant::now());
        let (a, b) = (recorder.next_id(), recorder.next_id());
        assert_ne!(a, b);
        for id in [b, a] {
            let kind = OpKind::Read { sku: "s".into(), warehouse: "w".into(), level: None };
            let (region, outcome, error) = ("r".to_owned(), Outcome::Ok, None);
            recorder.record(Op { id, region, client: 0, kind, invoke_us: 0, complete_us: 1, outcome, error });
        }
        let ids: Vec<u64> = recorder.snapshot().iter().map(|op| op.id).collect();
        assert_eq!(ids, [a, b]);
        assert_eq!(outcome_counts(&recorder.snapshot()), (2, 0, 0));
    }
}
