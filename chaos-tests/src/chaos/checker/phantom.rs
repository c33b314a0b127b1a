//! No phantom operation, as far as the API can list: every journal entry
//! was posted by a command of the history; no command whose every
//! submission definitely failed took effect; and every level's held and
//! allocated units are exactly the pending holds and unshipped order lines
//! of the history (a hold or order nobody issued would show there).

use std::collections::{BTreeMap, BTreeSet};

use super::settle::{self, Settled};
use super::{FinalState, HoldStatus, Verdict};
use crate::chaos::history::Op;

/// The no-phantom checker.
pub fn no_phantom(history: &[Op], state: &FinalState) -> Verdict {
    let commands = settle::commands(history, state);
    let issued: BTreeSet<&str> = commands.iter().map(|c| c.id).collect();
    let mut violations = Vec::new();
    for entry in state.journal.iter().filter(|e| !issued.contains(e.command_id.as_str())) {
        violations.push(format!(
            "journal entry of {} at {} by command {}, which no client sent",
            entry.sku, entry.warehouse, entry.command_id
        ));
    }
    let mut failed = 0;
    for command in commands.iter().filter(|c| !c.may_have_applied()) {
        failed += 1;
        if command.settled == Settled::Applied {
            violations.push(format!("command {} failed every time, yet took effect", command.id));
        }
    }

    // Claims the history explains, per (sku, warehouse): (held, allocated).
    let mut explained: BTreeMap<(&str, &str), (u64, u64)> = BTreeMap::new();
    for hold in state.holds.values().flatten().filter(|h| h.status == HoldStatus::Pending) {
        for claim in &hold.allocations {
            let held = &mut explained.entry((&claim.sku, &claim.warehouse)).or_default().0;
            *held = held.saturating_add(claim.quantity);
        }
    }
    for line in state.orders.values().flatten().flat_map(|o| &o.lines).filter(|line| !line.shipped) {
        let allocated = &mut explained.entry((&line.claim.sku, &line.claim.warehouse)).or_default().1;
        *allocated = allocated.saturating_add(line.claim.quantity);
    }
    for level in &state.levels {
        let (held, allocated) =
            explained.get(&(level.sku.as_str(), level.warehouse.as_str())).copied().unwrap_or_default();
        if (level.held, level.allocated) != (held, allocated) {
            violations.push(format!(
                "{} at {}: held {} allocated {}, but the history's holds and orders claim {held} and {allocated}",
                level.sku, level.warehouse, level.held, level.allocated
            ));
        }
    }
    Verdict::new(
        "no-phantom",
        violations,
        format!(
            "{} journal entries all from the history; no effect of {failed} failed commands; held and allocated of {} levels all explained",
            state.journal.len(),
            state.levels.len()
        ),
    )
}
