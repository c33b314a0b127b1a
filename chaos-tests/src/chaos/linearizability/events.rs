//! From a run's history to the search's [`Event`]s for one SKU: one event
//! per command (every submission of one command id is one operation, which
//! takes effect once), one per successful read.
//!
//! A submission's outcome becomes the event's end: acknowledged, it took
//! effect before the first acknowledgement; refused for insufficient stock
//! (`FAILED_PRECONDITION` on a reserve), it took effect as a refusal;
//! rejected otherwise, or never delivered, it did nothing and is left out;
//! indeterminate, the final state settles it: a hold that exists, or a
//! journal entry the receipt posted, shows it applied (at some point after
//! its first submission); a hold read as absent, or no journal entry (the
//! journal is read whole), shows it did nothing; a hold not read leaves it
//! open (it may take effect any time after its first submission, or never).
//!
//! The model is one integer, so only histories it describes are checked:
//! the SKU's stock at one warehouse, changed only by receipts and by
//! reserves whose holds neither end nor expire during the run (the final
//! state must show every one of them pending).

use std::collections::{BTreeMap, BTreeSet};

use super::model::{Action, ReserveResult};
use super::search::{End, Event};
use crate::chaos::checker::{FinalState, HoldStatus};
use crate::chaos::history::{Adjustment, Op, OpKind, Outcome};

/// The gRPC code of a reservation refused for insufficient stock.
const INSUFFICIENT: &str = "FAILED_PRECONDITION";

/// The events of `sku`'s operations in `history`, by invocation, or why
/// the model does not describe them.
pub fn events_of(history: &[Op], state: &FinalState, sku: &str) -> Result<Vec<Event>, String> {
    let mut commands: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    let mut events = Vec::new();
    let mut warehouses: BTreeSet<&str> = BTreeSet::new();
    let span_us = history.iter().map(|op| op.complete_us).max().unwrap_or(0);
    let holds: BTreeSet<&str> = history.iter().filter_map(Op::reserve).filter(|r| r.1 == sku).map(|r| r.0).collect();
    for op in history {
        match &op.kind {
            OpKind::Read { sku: read, warehouse: at, level } if read == sku => {
                warehouses.insert(at);
                if let (Outcome::Ok, Some(level)) = (op.outcome, level) {
                    let action = Action::Read { available: level.available };
                    events.push(Event { id: op.id, invoke_us: op.invoke_us, end: returned(op), action });
                }
            }
            OpKind::Reserve { command_id, sku: reserved, ttl_ms, .. } if reserved == sku => {
                if ttl_ms.saturating_mul(1000) <= span_us {
                    return Err(format!("a hold of {sku} may expire within the history (ttl {ttl_ms} ms)"));
                }
                commands.entry(command_id).or_default().push(op);
            }
            OpKind::Adjust { command_id, warehouse: at, sku: adjusted, reason, .. } if adjusted == sku => {
                warehouses.insert(at);
                if *reason != Adjustment::Receive {
                    return Err(format!("{sku} has {reason:?} adjustments, which the model leaves out"));
                }
                commands.entry(command_id).or_default().push(op);
            }
            OpKind::Transfer { sku: moved, .. } if moved == sku => {
                return Err(format!("{sku} is transferred between warehouses"));
            }
            OpKind::Commit { hold_id, .. } | OpKind::Release { hold_id, .. } if holds.contains(&hold_id.as_str()) => {
                return Err(format!("hold {hold_id} of {sku} is committed or released"));
            }
            _ => {}
        }
    }
    // A leader's clock jump can expire even long holds.
    let ended = holds.iter().find_map(|id| Some((id, state.hold(id).filter(|h| h.status != HoldStatus::Pending)?)));
    if let Some((hold_id, hold)) = ended {
        return Err(format!("hold {hold_id} of {sku} ended ({:?})", hold.status));
    }
    if warehouses.len() > 1 {
        let all: Vec<&str> = warehouses.into_iter().collect();
        return Err(format!("{sku} is read or stocked at {}", all.join(" and ")));
    }
    events.extend(commands.values().filter_map(|submissions| command_event(submissions, state)));
    events.sort_by_key(|event| (event.invoke_us, event.id));
    Ok(events)
}

/// The event of one command from all its submissions (at least one), or
/// `None` when it surely did nothing.
fn command_event(submissions: &[&Op], state: &FinalState) -> Option<Event> {
    let first = submissions.iter().min_by_key(|op| op.invoke_us)?;
    let earliest = |pred: &dyn Fn(&Op) -> bool| {
        submissions.iter().filter(|op| pred(op)).min_by_key(|op| op.complete_us).map(|op| returned(op))
    };
    let acknowledged = earliest(&|op| op.outcome == Outcome::Ok);
    let indeterminate = submissions.iter().any(|op| op.outcome == Outcome::Indeterminate);
    let (end, action) = match &first.kind {
        OpKind::Reserve { hold_id, quantity, .. } => {
            let refused = earliest(&|op| op.outcome == Outcome::Fail && op.error.as_deref() == Some(INSUFFICIENT));
            let reserve = |result| Action::Reserve { quantity: *quantity, result };
            match (acknowledged, refused) {
                (Some(end), _) => (end, reserve(ReserveResult::Granted)),
                (None, Some(end)) => (end, reserve(ReserveResult::Insufficient)),
                // The final state settles it: a hold that exists was placed;
                // an absent one was refused or never applied, which changed
                // nothing; one not read stays open.
                (None, None) if indeterminate => match state.holds.get(hold_id.as_str()) {
                    Some(Some(_)) => (End::Applied, reserve(ReserveResult::Granted)),
                    Some(None) => return None,
                    None => (End::Unknown, reserve(ReserveResult::Unseen)),
                },
                (None, None) => return None,
            }
        }
        // The journal settles a receipt the same way.
        OpKind::Adjust { command_id, quantity, .. } => match acknowledged {
            Some(end) => (end, Action::Receive { quantity: *quantity }),
            None if indeterminate && state.posted_by(command_id).next().is_some() => {
                (End::Applied, Action::Receive { quantity: *quantity })
            }
            None => return None,
        },
        _ => return None,
    };
    Some(Event { id: first.id, invoke_us: first.invoke_us, end, action })
}

fn returned(op: &Op) -> End {
    End::Returned { at_us: op.complete_us }
}

/// The first `ops_max` events by invocation, with what else they need to
/// be judged soundly, or all of them when there are no more than that.
///
/// An order of the whole history restricted to the first events is an
/// order of them, provided the events invoked before the last of them
/// returned stay in, as optional (they may fall between them), and the
/// events known only to have applied become optional (their point may lie
/// after events left out). Reads become optional by being left out.
pub fn window(mut events: Vec<Event>, ops_max: usize) -> (Vec<Event>, bool) {
    if events.len() <= ops_max {
        return (events, false);
    }
    let horizon_us = events[..ops_max]
        .iter()
        .filter_map(|e| match e.end {
            End::Returned { at_us } => Some(at_us),
            End::Applied | End::Unknown => None,
        })
        .max()
        .unwrap_or(0);
    let rest = events.split_off(ops_max);
    for event in &mut events {
        if event.end == End::Applied {
            event.end = End::Unknown;
        }
    }
    let straddling = rest
        .into_iter()
        .take_while(|e| e.invoke_us < horizon_us)
        .filter(|e| !matches!(e.action, Action::Read { .. }))
        .map(|e| Event { end: End::Unknown, ..e });
    events.extend(straddling);
    (events, true)
}

#[cfg(test)]
#[path = "events_test.rs"]
mod tests;
