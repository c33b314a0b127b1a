//! Process faults on nodes the harness started, by pid only (through the
//! launcher's [`crate::cluster::Cluster`]): crash and restart, pause and
//! continue, and the rolling restart of the whole region.

use std::time::Duration;

use super::{CATCH_UP_TIMEOUT, Stage};

/// Kills `nodes` at once (SIGKILL), holds for `length`, restarts them on
/// their data. Returns the window in force: from the last kill to the
/// first restart, in microseconds since the run started.
pub(super) async fn crash(stage: &mut Stage<'_>, nodes: &[u64], length: Duration) -> anyhow::Result<(u64, u64)> {
    for &node in nodes {
        stage.cluster_mut()?.kill_node(node)?;
    }
    let start = stage.now_us();
    tokio::time::sleep(length).await;
    let end = stage.now_us();
    for &node in nodes {
        stage.cluster_mut()?.start_node(node, false)?;
    }
    Ok((start, end))
}

/// Suspends `nodes` (SIGSTOP), holds for `length`, continues them.
pub(super) async fn pause(stage: &mut Stage<'_>, nodes: &[u64], length: Duration) -> anyhow::Result<(u64, u64)> {
    for &node in nodes {
        stage.cluster_mut()?.pause_node(node)?;
    }
    let start = stage.now_us();
    tokio::time::sleep(length).await;
    let end = stage.now_us();
    for &node in nodes {
        stage.cluster_mut()?.resume_node(node)?;
    }
    Ok((start, end))
}

/// Stops (SIGTERM, a clean shutdown) and restarts every member in turn,
/// followers first and `leader` last, as an operator upgrading the region
/// would; after each restart, waits until the region has a leader and the
/// restarted node has caught up with it.
pub(super) async fn rolling_restart(stage: &mut Stage<'_>, leader: u64) -> anyhow::Result<(u64, u64)> {
    let mut order: Vec<u64> = stage.members().into_iter().filter(|&node| node != leader).collect();
    order.push(leader);
    let start = stage.now_us();
    for node in order {
        // A clean stop waits for the process (up to its grace period): let
        // the runtime move the workload's tasks to another thread meanwhile.
        let cluster = stage.cluster_mut()?;
        tokio::task::block_in_place(|| cluster.stop_node(node))?;
        stage.cluster_mut()?.start_node(node, false)?;
        stage.wait_caught_up(node, CATCH_UP_TIMEOUT).await?;
    }
    Ok((start, stage.now_us()))
}
