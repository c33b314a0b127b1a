//! The leader's expiry ticks: holds stop counting the moment a command's
//! `now` passes their deadline, but only an `Expire` command records the
//! expiry, returns the stock for good and purges old idempotency records.
//! The leader proposes one every interval, so a hold is expired within its
//! TTL plus about one interval. Followers stay quiet; a new leader starts
//! ticking as soon as it leads.

use std::time::Duration;

use ledger::Command;
use openraft::ServerState;
use openraft::async_runtime::WatchReceiver;

use crate::region::Region;

/// Proposes `Expire` every `interval` while this node leads, until the
/// group's Raft stops.
pub async fn run(region: Region, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sequence = 0_u64;
    loop {
        ticks.tick().await;
        let (state, term, stopped) = {
            let metrics = region.raft().metrics();
            let m = metrics.borrow_watched();
            (m.state, m.current_term, m.running_state.is_err())
        };
        if stopped {
            return;
        }
        if state != ServerState::Leader {
            continue;
        }
        sequence += 1;
        // Expire is never deduplicated, but the id still names the tick in logs.
        let id = format!("expire:{}:{term}:{sequence}", region.node_id());
        match region.propose(id.as_str().into(), "regiond".into(), Command::Expire).await {
            Ok(committed) => tracing::trace!(index = committed.index, "expiry tick applied"),
            Err(error) => tracing::debug!(%error, "expiry tick not applied; the next one retries"),
        }
    }
}
