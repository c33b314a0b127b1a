//! No acknowledged operation lost, for every kind: an acknowledged reserve's
//! hold exists, a commit's order exists and its hold is committed, a
//! release's hold is released, a stock command's entries are in the
//! journal.

use super::settle::{self, Settled};
use super::{FinalState, HoldStatus, Verdict};
use crate::chaos::history::{Op, OpKind};

/// The no-lost-ack checker.
pub fn no_lost_ack(history: &[Op], state: &FinalState) -> Verdict {
    let mut checked = 0;
    let mut violations = Vec::new();
    for command in settle::commands(history, state) {
        let Some(ack) = command.ack() else { continue };
        checked += 1;
        let what = format!("op {} acknowledged {}", ack.id, command.id);
        match command.settled {
            Settled::Applied => {}
            Settled::NotApplied => violations.push(format!("{what}, but {}", missing(command.kind))),
            Settled::Unknown => violations.push(format!("{what}, which the final read did not cover")),
        }
        if let OpKind::Commit { hold_id, .. } = command.kind
            && let Some(hold) = state.hold(hold_id)
            && hold.status != HoldStatus::Committed
        {
            violations.push(format!("{what}, but hold {hold_id} is {:?}", hold.status));
        }
    }
    Verdict::new("no-lost-ack", violations, format!("all {checked} acknowledged commands took effect"))
}

/// What the final state lacks when `kind` was not applied.
fn missing(kind: &OpKind) -> String {
    match kind {
        OpKind::Reserve { hold_id, .. } => format!("hold {hold_id} does not exist"),
        OpKind::Commit { order_id, .. } => format!("order {order_id} does not exist"),
        OpKind::Release { hold_id, .. } => format!("hold {hold_id} is not released"),
        OpKind::Adjust { .. } | OpKind::Transfer { .. } | OpKind::Ship { .. } => {
            "the journal has no entry of it".into()
        }
        OpKind::Read { .. } => "a read has no effect".into(),
    }
}
