//! Every hold ends exactly once. The ledger reports one status per hold
//! (pending, committed, released, expired); this checks that the status
//! agrees with what clients were told and with the orders: a hold both
//! committed and released (each acknowledged) is a double ending; a
//! committed hold has exactly one order, made from it by a client's
//! commit, claiming the hold's units; a released, expired or pending hold
//! has no order; and a short-lived hold has expired by the final read
//! (which waits for that, see [`SHORT_TTL_MAX_MS`]).

use std::collections::BTreeMap;

use super::settle::{self, Command, Settled};
use super::{Claim, FinalState, HoldStatus, Verdict};
use crate::chaos::history::{Op, OpKind};

/// Holds living at most this long must have ended by the final read: the
/// final read phase waits (bounded) until none of them is pending.
pub const SHORT_TTL_MAX_MS: u64 = 60_000;

/// The commands that acted on one hold.
#[derive(Default)]
struct HoldCommands<'c, 'h> {
    reserve: Option<&'c Command<'h>>,
    commits: Vec<&'c Command<'h>>,
    releases: Vec<&'c Command<'h>>,
}

/// The hold-lifecycle checker.
pub fn holds_end_once(history: &[Op], state: &FinalState) -> Verdict {
    let commands = settle::commands(history, state);
    let mut by_hold: BTreeMap<&str, HoldCommands<'_, '_>> = BTreeMap::new();
    for command in &commands {
        let Some(hold_id) = command.kind.hold_id() else { continue };
        let entry = by_hold.entry(hold_id).or_default();
        match command.kind {
            OpKind::Reserve { .. } => entry.reserve = Some(command),
            OpKind::Commit { .. } => entry.commits.push(command),
            OpKind::Release { .. } => entry.releases.push(command),
            _ => {}
        }
    }
    let mut violations = Vec::new();
    let mut ended = BTreeMap::<&str, usize>::new();
    for (hold_id, acted) in &by_hold {
        let Some(hold) = state.hold(hold_id) else { continue };
        *ended.entry(status_name(hold.status)).or_default() += 1;
        let committed_ack = acted.commits.iter().find_map(|c| c.ack());
        let released_ack = acted.releases.iter().find_map(|c| c.ack());
        if let (Some(commit), Some(release)) = (committed_ack, released_ack) {
            violations.push(format!(
                "hold {hold_id} ended twice: commit acknowledged (op {}) and release acknowledged (op {})",
                commit.id, release.id
            ));
        }
        let orders: Vec<(&str, &super::FinalOrder)> = acted
            .commits
            .iter()
            .filter(|c| c.settled == Settled::Applied)
            .filter_map(|c| match c.kind {
                OpKind::Commit { order_id, .. } => state.order(order_id).map(|o| (order_id.as_str(), o)),
                _ => None,
            })
            .collect();
        match (hold.status, orders.as_slice()) {
            (HoldStatus::Committed, []) => {
                violations.push(format!("hold {hold_id} is committed, but no client's commit made an order of it"));
            }
            (HoldStatus::Committed, [(order_id, order)]) => {
                let mut lines: Vec<&Claim> = order.lines.iter().map(|l| &l.claim).collect();
                let mut claims: Vec<&Claim> = hold.allocations.iter().collect();
                lines.sort_by_key(|c| (&c.sku, &c.warehouse));
                claims.sort_by_key(|c| (&c.sku, &c.warehouse));
                if order.hold_id != *hold_id || lines != claims {
                    violations
                        .push(format!("order {order_id} does not match the hold {hold_id} it was committed from"));
                }
            }
            (HoldStatus::Committed, many) => {
                violations.push(format!("hold {hold_id} became {} orders", many.len()));
            }
            (status, [(order_id, _), ..]) => {
                violations.push(format!("hold {hold_id} is {status:?}, yet order {order_id} was made of it"));
            }
            (HoldStatus::Pending, []) => {
                if let Some(OpKind::Reserve { ttl_ms, .. }) = acted.reserve.map(|r| r.kind)
                    && *ttl_ms <= SHORT_TTL_MAX_MS
                {
                    violations.push(format!(
                        "hold {hold_id} (ttl {ttl_ms} ms) was still pending at the final read, which waited for it \
                         (expiry stalled: the ledger's clock did not pass its deadline)"
                    ));
                }
            }
            (HoldStatus::Released | HoldStatus::Expired, []) => {}
        }
        if acted.reserve.is_none() {
            violations.push(format!("hold {hold_id} exists but no client reserved it"));
        }
    }
    let summary: Vec<String> = ended.iter().map(|(status, n)| format!("{n} {status}")).collect();
    Verdict::new("hold-lifecycle", violations, format!("every hold in one state: {}", summary.join(", ")))
}

fn status_name(status: HoldStatus) -> &'static str {
    match status {
        HoldStatus::Pending => "pending",
        HoldStatus::Committed => "committed",
        HoldStatus::Released => "released",
        HoldStatus::Expired => "expired",
    }
}
