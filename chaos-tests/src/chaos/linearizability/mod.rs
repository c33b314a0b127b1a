//! The linearizability checker: is there one order of a SKU's availability
//! reads, reservations and receipts, consistent with real time, in which
//! every result is what a single integer `available` would give?
//!
//! A Wing–Gong search with memoization (as in Porcupine and Knossos) over
//! one object, so no partitioning is needed. The search is exponential in
//! the worst case, so it runs on the first [`WINDOW_OPS`] operations of
//! each SKU by invocation (see [`events::window`] for why that is sound)
//! and within [`LIMITS`]; past them the verdict says "not checked" and why,
//! rather than hang or guess.
//!
//! # Layout
//!
//! - [`model`]: the actions and the model's transition.
//! - [`search`]: the search over its own small events, its limits and its
//!   answer.
//! - [`events`]: from the run's history to events, one per command.

pub mod events;
pub mod model;
pub mod search;

use std::collections::BTreeSet;

use super::checker::{FinalState, Verdict};
use super::history::{Op, OpKind};
use search::{Limits, Linearizability};

/// The checker's name in reports.
const NAME: &str = "linearizable";

/// Operations of a SKU checked, the first by invocation.
pub const WINDOW_OPS: usize = 1000;

/// Bounds on one search: the window plus the operations straddling its
/// end, and 200 000 steps (about a second; the memo table, one bitset of
/// the operations per step, stays under about 60 MB). The runs seen so
/// far needed from 2 000 to 120 000 steps for 400 to 1 300 operations.
pub const LIMITS: Limits = Limits { ops_max: 2 * WINDOW_OPS, steps_max: 200_000 };

/// Linearizability of every SKU whose availability the history read
/// (the flash sale's hot SKU), each over its first [`WINDOW_OPS`]
/// operations. Passes, saying so, when no SKU was read or a SKU's history
/// is beyond the model or the limits.
pub fn linearizable(history: &[Op], state: &FinalState) -> Verdict {
    let read: BTreeSet<&str> = history
        .iter()
        .filter_map(|op| match &op.kind {
            OpKind::Read { sku, level: Some(_), .. } => Some(sku.as_str()),
            _ => None,
        })
        .collect();
    if read.is_empty() {
        return Verdict::new(NAME, Vec::new(), "not checked: no availability was read".to_owned());
    }
    let mut violations = Vec::new();
    let mut found = Vec::new();
    for sku in read {
        let events = match events::events_of(history, state, sku) {
            Ok(events) => events,
            Err(reason) => {
                found.push(format!("{sku} not checked: {reason}"));
                continue;
            }
        };
        let total = events.len();
        let (events, cut) = events::window(events, WINDOW_OPS);
        let scope = if cut {
            format!("the first {WINDOW_OPS} of {total} operations")
        } else {
            format!("all {total} operations")
        };
        match search::check(&events, LIMITS) {
            Linearizability::Linearizable { steps } => {
                found.push(format!("{sku}: {scope} linearizable ({steps} search steps)"))
            }
            Linearizability::Violation { explanation } => violations.push(format!("{sku}, {scope}: {explanation}")),
            Linearizability::NotChecked { reason } => found.push(format!("{sku}, {scope} not checked: {reason}")),
        }
    }
    Verdict::new(NAME, violations, found.join("; "))
}
