//! No oversell. At every observed point (each level a client read during
//! the run, and every level read at the end) the units that may not be
//! sold again (held + allocated + damaged + safety stock) are at most
//! on_hand. Over the history, per SKU, the units of holds that still claim
//! stock (pending, or committed into an order, shipped or not) are at most
//! the units put in: receipts (applied or unknown) less shrink and damage
//! known applied.

use std::collections::BTreeMap;

use super::settle::{self, Settled};
use super::{FinalState, Verdict};
use crate::chaos::history::{Adjustment, Level, Op, OpKind, Outcome};

/// The no-oversell checker.
pub fn no_oversell(history: &[Op], state: &FinalState) -> Verdict {
    let mut violations = Vec::new();
    let reads = history.iter().filter(|op| op.outcome == Outcome::Ok).filter_map(|op| match &op.kind {
        OpKind::Read { level: Some(level), .. } => Some((Some(op.id), level)),
        _ => None,
    });
    let mut levels = 0;
    for (op, level) in reads.chain(state.levels.iter().map(|level| (None, level))) {
        levels += 1;
        if let Some(violation) = overclaimed(level) {
            let when = op.map_or_else(|| "final level".to_owned(), |id| format!("op {id} read"));
            violations.push(format!("{when} {violation}"));
        }
    }

    let mut claimed: BTreeMap<&str, u64> = BTreeMap::new();
    let mut put_in: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for command in settle::commands(history, state) {
        match command.kind {
            OpKind::Reserve { hold_id, sku, quantity, .. } => {
                let units = match state.hold(hold_id) {
                    Some(hold) if hold.status.claims_stock() => hold.quantity(),
                    Some(_) => 0,
                    // A lost acknowledged hold still counts as sold.
                    None if command.ack().is_some() => *quantity,
                    None => 0,
                };
                let total = claimed.entry(sku).or_default();
                *total = total.saturating_add(units);
            }
            OpKind::Adjust { sku, reason, quantity, .. } => {
                let (added, removed) = put_in.entry(sku).or_default();
                match (reason, command.settled) {
                    (Adjustment::Receive, Settled::Applied | Settled::Unknown) => {
                        *added = added.saturating_add(*quantity);
                    }
                    (Adjustment::Damage | Adjustment::Shrink, Settled::Applied) => {
                        *removed = removed.saturating_add(*quantity);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let mut total = 0u64;
    for (sku, units) in &claimed {
        let (added, removed) = put_in.get(sku).copied().unwrap_or_default();
        let most = added.saturating_sub(removed);
        total = total.saturating_add(*units);
        if *units > most {
            violations.push(format!(
                "{sku}: holds claim {units} units but at most {most} were put in ({added} received, {removed} damaged or shrunk)"
            ));
        }
    }
    Verdict::new(
        "no-oversell",
        violations,
        format!(
            "{levels} levels (run reads and final) within on_hand; {total} units claimed by holds within stock put in"
        ),
    )
}

/// What is wrong with `level` if it claims more than it has.
fn overclaimed(level: &Level) -> Option<String> {
    (level.claimed() > level.on_hand).then(|| {
        format!(
            "{} at {}: held {} + allocated {} + damaged {} + safety {} > on_hand {}",
            level.sku, level.warehouse, level.held, level.allocated, level.damaged, level.safety_stock, level.on_hand
        )
    })
}
