//! Handing a group's leadership to another voter: for operators (the admin
//! API's `TransferLeadership`) and for a leader about to build a snapshot
//! (`snapshot_schedule`).

use std::time::Duration;

use openraft::errors::Fatal;

use crate::TypeConfig;
use crate::transport::LedgerRaft;

/// Asks node `to` to take over leadership from node `from` and waits up to
/// `within` for a leader other than `from`: that leader, or `None` if none
/// was known in time (the target may be down or behind). Fails only if
/// this node's Raft has stopped.
pub async fn hand_over(
    raft: &LedgerRaft,
    from: u64,
    to: u64,
    within: Duration,
) -> Result<Option<u64>, Fatal<TypeConfig>> {
    raft.trigger().transfer_leader(to).await?;
    let moved = raft
        .wait(Some(within))
        .metrics(|m| m.current_leader.is_some_and(|leader| leader != from), "leadership handed over")
        .await;
    Ok(moved.ok().and_then(|m| m.current_leader))
}
