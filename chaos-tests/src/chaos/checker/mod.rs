//! The checkers: pure functions over one region's history and the state
//! read there after healing, each giving a [`Verdict`]; one module per
//! invariant.
//!
//! Every checker works on commands, not submissions ([`settle`]): the
//! final read settles each indeterminate one (a hold, an order or a journal
//! entry shows it applied), so conservation is exact whenever the read
//! covered every command, and what it did not cover is counted either way.
//!
//! "No phantom" is checked as far as the API can list: every journal entry
//! was posted by a command of the history, no definitely failed command
//! left an effect, and the held and allocated units of every level are
//! exactly the pending holds and unshipped order lines the history made
//! (the API cannot list holds or orders, so a hold nobody asked for shows
//! as unexplained held units).
//!
//! # Layout
//!
//! - [`state`]: what the final read found.
//! - [`settle`]: commands, how they settled, what stock commands change.
//! - [`oversell`], [`conservation`], [`lost_ack`], [`phantom`],
//!   [`lifecycle`], [`idempotence`], [`convergence`]: one invariant each.

pub mod conservation;
pub mod convergence;
pub mod idempotence;
pub mod lifecycle;
pub mod lost_ack;
pub mod oversell;
pub mod phantom;
pub mod settle;
pub mod state;

#[cfg(test)]
mod tests;

use serde::Serialize;

pub use settle::settled_indeterminate;
pub use state::{Claim, FinalHold, FinalOrder, FinalOrderLine, FinalState, HoldStatus, JournalRecord, ReplicaView};

use super::history::Op;

/// One checker's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The checker's name.
    pub name: &'static str,
    /// Whether the property held.
    pub passed: bool,
    /// What was found (the first violations when it failed).
    pub detail: String,
}

impl Verdict {
    /// A verdict from a checker's violations: passed when there are none
    /// (with `ok_detail`), else failed with the first few listed.
    pub fn new(name: &'static str, violations: Vec<String>, ok_detail: String) -> Self {
        const SHOWN: usize = 5;
        if violations.is_empty() {
            return Self { name, passed: true, detail: ok_detail };
        }
        let mut detail = violations.iter().take(SHOWN).cloned().collect::<Vec<_>>().join("; ");
        if violations.len() > SHOWN {
            detail.push_str(&format!("; and {} more", violations.len() - SHOWN));
        }
        Self { name, passed: false, detail }
    }
}

/// Every checker over one region's history and final state, in report order.
pub fn check_all(history: &[Op], state: &FinalState) -> Vec<Verdict> {
    vec![
        oversell::no_oversell(history, state),
        conservation::conservation(history, state),
        lost_ack::no_lost_ack(history, state),
        phantom::no_phantom(history, state),
        lifecycle::holds_end_once(history, state),
        idempotence::idempotent_retries(history, state),
        convergence::convergence(state),
        crate::chaos::linearizability::linearizable(history, state),
        crate::chaos::replay::model_replay(history, state),
    ]
}
