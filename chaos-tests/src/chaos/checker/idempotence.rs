//! Idempotent retries: a command sent several times (same id, same
//! payload) applies once. Its submissions' definite answers agree (an
//! acknowledgement next to a rejection means a copy ran anew: a reserve
//! copy refused `ALREADY_EXISTS` because the first made the hold, a
//! release copy refused because the hold had already ended); a command
//! posts each (sku, warehouse) entry at most once in the journal; and a
//! hold claims exactly the units its reserve asked for.

use std::collections::BTreeMap;

use super::settle;
use super::{FinalState, Verdict};
use crate::chaos::history::{Op, OpKind, Outcome};

/// Rejections the ledger gives when it applies a command (a node refusing
/// to take the request, e.g. `RESOURCE_EXHAUSTED`, says nothing about a
/// copy that was applied).
const APPLY_REJECTIONS: [&str; 5] = ["FAILED_PRECONDITION", "ALREADY_EXISTS", "NOT_FOUND", "ABORTED", "OUT_OF_RANGE"];

/// The idempotent-retries checker.
pub fn idempotent_retries(history: &[Op], state: &FinalState) -> Verdict {
    let mut violations = Vec::new();
    let commands = settle::commands(history, state);
    let mut resent = 0;
    for command in &commands {
        if command.submissions.len() > 1 {
            resent += 1;
        }
        let ack = command.ack();
        let mut rejections =
            command.submissions.iter().filter(|op| op.error.as_deref().is_some_and(|e| APPLY_REJECTIONS.contains(&e)));
        if let (Some(ack), Some(rejected)) = (ack, rejections.next()) {
            violations.push(format!(
                "command {}: op {} acknowledged, op {} rejected {} (a copy ran again)",
                command.id,
                ack.id,
                rejected.id,
                rejected.error.as_deref().unwrap_or("?")
            ));
        }
        if let OpKind::Reserve { hold_id, quantity, .. } = command.kind
            && let Some(hold) = state.hold(hold_id)
            && hold.quantity() != *quantity
        {
            violations.push(format!("hold {hold_id} claims {} units, its reserve asked {quantity}", hold.quantity()));
        }
    }
    let mut posted: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    for entry in &state.journal {
        *posted.entry((&entry.command_id, &entry.sku, &entry.warehouse)).or_default() += 1;
    }
    for ((command_id, sku, warehouse), count) in posted.into_iter().filter(|(_, n)| *n > 1) {
        violations
            .push(format!("command {command_id} posted {count} entries for {sku} at {warehouse} (applied twice)"));
    }
    let copies = history.iter().filter(|op| op.kind.command_id().is_some() && op.outcome != Outcome::Fail).count();
    Verdict::new(
        "idempotent-retries",
        violations,
        format!(
            "{} commands ({resent} sent more than once, {copies} submissions not failed) each applied once",
            commands.len()
        ),
    )
}
