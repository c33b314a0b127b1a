//! Commands and how they settled. The history holds submissions; one
//! command (one `command_id`) may be submitted several times (the
//! idempotence workload). Whether a command was applied is read from the
//! final state, never guessed from the client's view:
//!
//! - a reserve applied iff its hold exists;
//! - a commit iff its order exists (one order id per commit command);
//! - a release iff its hold is released (one release command per hold);
//! - an adjustment, transfer or shipment iff the journal holds an entry it
//!   posted (every applied stock command posts at least one).
//!
//! So an indeterminate submission is settled exactly whenever the final
//! read covered it; [`Settled::Unknown`] is left only for what was not read.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::state::{FinalState, HoldStatus};
use crate::chaos::history::{Adjustment, Op, OpKind, Outcome};

/// Whether a command was applied, as the final state tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Settled {
    /// The final state shows its effect.
    Applied,
    /// The final state shows it was not applied.
    NotApplied,
    /// The final read did not cover it.
    Unknown,
}

/// One command and every submission of it.
#[derive(Clone, Debug)]
pub struct Command<'h> {
    /// Its idempotency key.
    pub id: &'h str,
    /// What it asks (its first submission's kind; every copy sends the same).
    pub kind: &'h OpKind,
    /// Every submission, in op id order.
    pub submissions: Vec<&'h Op>,
    /// Whether it was applied.
    pub settled: Settled,
}

impl Command<'_> {
    /// The first acknowledged submission.
    pub fn ack(&self) -> Option<&Op> {
        self.submissions.iter().copied().find(|op| op.outcome == Outcome::Ok)
    }

    /// Whether some submission may have applied it (ok or indeterminate).
    pub fn may_have_applied(&self) -> bool {
        self.submissions.iter().any(|op| op.outcome != Outcome::Fail)
    }
}

/// Every mutating command of `history`, in order of first submission,
/// settled against `state`.
pub fn commands<'h>(history: &'h [Op], state: &FinalState) -> Vec<Command<'h>> {
    let settler = Settler::new(state);
    let mut order: Vec<&'h str> = Vec::new();
    let mut by_id: BTreeMap<&'h str, Command<'h>> = BTreeMap::new();
    for op in history {
        let Some(id) = op.kind.command_id() else { continue };
        by_id
            .entry(id)
            .or_insert_with(|| {
                order.push(id);
                Command { id, kind: &op.kind, submissions: Vec::new(), settled: settler.settle(&op.kind) }
            })
            .submissions
            .push(op);
    }
    order.into_iter().filter_map(|id| by_id.remove(id)).collect()
}

/// Settles commands against one final state (its journal indexed by
/// command id once).
struct Settler<'s> {
    state: &'s FinalState,
    journaled: BTreeSet<&'s str>,
}

impl<'s> Settler<'s> {
    fn new(state: &'s FinalState) -> Self {
        Self { state, journaled: state.journal.iter().map(|entry| entry.command_id.as_str()).collect() }
    }

    /// Whether `kind` was applied, by the rules of the module doc.
    fn settle(&self, kind: &OpKind) -> Settled {
        let known = |read: Option<bool>| match read {
            Some(true) => Settled::Applied,
            Some(false) => Settled::NotApplied,
            None => Settled::Unknown,
        };
        let holds = &self.state.holds;
        match kind {
            OpKind::Reserve { hold_id, .. } => known(holds.get(hold_id).map(Option::is_some)),
            OpKind::Commit { order_id, .. } => known(self.state.orders.get(order_id).map(Option::is_some)),
            OpKind::Release { hold_id, .. } => {
                known(holds.get(hold_id).map(|hold| hold.as_ref().is_some_and(|h| h.status == HoldStatus::Released)))
            }
            OpKind::Adjust { command_id, .. }
            | OpKind::Transfer { command_id, .. }
            | OpKind::Ship { command_id, .. } => known(Some(self.journaled.contains(command_id.as_str()))),
            OpKind::Read { .. } => Settled::NotApplied,
        }
    }
}

/// How `(applied, not applied, unknown)` the indeterminate submissions of
/// `history` settled.
pub fn settled_indeterminate(history: &[Op], state: &FinalState) -> (usize, usize, usize) {
    let settler = Settler::new(state);
    let mut counts = (0, 0, 0);
    for op in history.iter().filter(|op| op.outcome == Outcome::Indeterminate) {
        match settler.settle(&op.kind) {
            Settled::Applied => counts.0 += 1,
            Settled::NotApplied => counts.1 += 1,
            Settled::Unknown => counts.2 += 1,
        }
    }
    counts
}

/// A change of one level's journaled buckets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effect {
    /// The SKU.
    pub sku: String,
    /// The warehouse.
    pub warehouse: String,
    /// Change of on_hand.
    pub on_hand: i64,
    /// Change of damaged.
    pub damaged: i64,
}

/// What a stock command does to the journaled buckets when applied, from
/// the request (and, for a shipment, the order's lines at the warehouse as
/// read): never from the journal, so the journal can be checked against it.
pub fn effects(kind: &OpKind, state: &FinalState) -> Vec<Effect> {
    let signed = |quantity: u64| i64::try_from(quantity).unwrap_or(i64::MAX);
    let effect = |warehouse: &str, sku: &str, on_hand: i64, damaged: i64| Effect {
        sku: sku.to_owned(),
        warehouse: warehouse.to_owned(),
        on_hand,
        damaged,
    };
    match kind {
        OpKind::Adjust { warehouse, sku, reason, quantity, .. } => {
            let (on_hand, damaged) = match reason {
                Adjustment::Receive => (signed(*quantity), 0),
                Adjustment::Damage => (0, signed(*quantity)),
                Adjustment::Shrink => (-signed(*quantity), 0),
            };
            vec![effect(warehouse, sku, on_hand, damaged)]
        }
        OpKind::Transfer { from, to, sku, quantity, .. } => {
            vec![effect(from, sku, -signed(*quantity), 0), effect(to, sku, signed(*quantity), 0)]
        }
        OpKind::Ship { warehouse, order_id, .. } => state
            .order(order_id)
            .map(|order| {
                order
                    .lines
                    .iter()
                    .filter(|line| line.claim.warehouse == *warehouse)
                    .map(|line| effect(warehouse, &line.claim.sku, -signed(line.claim.quantity), 0))
                    .collect()
            })
            .unwrap_or_default(),
        OpKind::Reserve { .. } | OpKind::Commit { .. } | OpKind::Release { .. } | OpKind::Read { .. } => Vec::new(),
    }
}
