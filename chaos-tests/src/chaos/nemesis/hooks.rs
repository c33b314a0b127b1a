//! Faults through a node's own hooks other than its links (enabled, like
//! them, only by `fault_injection` in its config): slow or failing disk
//! syncs, and a jump of the clock the leader stamps into its commands.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use protos::admin::{DiskFaults, FaultConfig};

use super::Stage;

/// How far the leader's clock jumps: an hour, as TigerBeetle's Jepsen
/// suite does.
pub(super) const CLOCK_JUMP_MS: i64 = 3_600_000;

/// How long a node with failing syncs may keep running before the fault is
/// called a failure: it must stop at its next sync, and the workload keeps
/// it writing.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Delays every fsync of `nodes` by `delay_ms` for `length`.
pub(super) async fn slow_disk(
    stage: &Stage<'_>,
    nodes: &[u64],
    delay_ms: u64,
    length: Duration,
) -> anyhow::Result<(u64, u64)> {
    let disk = DiskFaults { fsync_delay_ms: delay_ms, fsync_fail: false };
    hold(stage, nodes, FaultConfig { disk: Some(disk), ..FaultConfig::default() }, length).await
}

/// Shifts `leader`'s clock by `offset_ms` for `length`.
pub(super) async fn clock_jump(
    stage: &Stage<'_>,
    leader: u64,
    offset_ms: i64,
    length: Duration,
) -> anyhow::Result<(u64, u64)> {
    hold(stage, &[leader], FaultConfig { clock_offset_ms: offset_ms, ..FaultConfig::default() }, length).await
}

/// Sets `config` on `nodes`, holds it for `length`, clears it.
async fn hold(stage: &Stage<'_>, nodes: &[u64], config: FaultConfig, length: Duration) -> anyhow::Result<(u64, u64)> {
    for &node in nodes {
        stage.set_faults(node, config.clone()).await?;
    }
    let start = stage.now_us();
    tokio::time::sleep(length).await;
    let end = stage.now_us();
    for &node in nodes {
        stage.set_faults(node, FaultConfig::default()).await?;
    }
    Ok((start, end))
}

/// Makes every fsync of `nodes` fail. Each must then stop on its own (a
/// storage failure is fatal: a replica that cannot make its log durable
/// must not acknowledge), within [`STOP_TIMEOUT`]; the window lasts from
/// the fault until `length` has passed, then each is restarted on its data
/// (the hook is gone with the process).
pub(super) async fn failing_disk(stage: &mut Stage<'_>, nodes: &[u64], length: Duration) -> anyhow::Result<(u64, u64)> {
    let disk = DiskFaults { fsync_delay_ms: 0, fsync_fail: true };
    for &node in nodes {
        stage.set_faults(node, FaultConfig { disk: Some(disk), ..FaultConfig::default() }).await?;
    }
    let start = stage.now_us();
    let began = Instant::now();
    for &node in nodes {
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = stage.cluster_mut()?.take_exited(node)? {
                break status;
            }
            if Instant::now() > deadline {
                stage.set_faults(node, FaultConfig::default()).await?;
                anyhow::bail!("node {node} kept running {STOP_TIMEOUT:?} after its fsyncs began to fail");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        tracing::info!(node, %status, "node stopped on its failing disk");
        anyhow::ensure!(!status.success(), "node {node} stopped on a failing disk but exited with success ({status})");
    }
    tokio::time::sleep(length.saturating_sub(began.elapsed())).await;
    let end = stage.now_us();
    for &node in nodes {
        stage.cluster_mut()?.start_node(node, false).with_context(|| format!("restarting node {node}"))?;
    }
    Ok((start, end))
}
