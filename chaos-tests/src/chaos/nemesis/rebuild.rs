//! The damaged-files window: a follower is stopped cleanly, one of its
//! data files damaged ([`Damage`]), and it is started again on them: it
//! must exit non-zero within [`REFUSE_TIMEOUT`], naming `regiond rebuild`,
//! and never open its API (what it did is the window's [`Refusal`]). It
//! is then rebuilt from its peers under a fresh id by that command (the
//! launcher's [`crate::cluster::Cluster::rebuild_node`]), and the window
//! ends once the new id is a voter in place of the old and has caught up.
//! The workload runs throughout: the group serves on the other replicas.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::damage::Damage;
use super::refused::Refusal;
use super::{CATCH_UP_TIMEOUT, LEADER_WAIT, Stage, voter_ids};
use crate::chaos::rng::SplitMix64;
use crate::process::log_tail;

/// How long a replica started on damaged files may run before it is said
/// not to refuse.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(15);

/// How long the rebuild may take until the new id is a voter (it starts a
/// node, which catches up from the leader as a learner first).
const REBUILD_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a probe of the damaged replica's API address may wait.
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);

/// What a damaged replica's refusal names.
const REBUILD_COMMAND: &str = "regiond rebuild";

/// Damages `node`'s files (the kind and place drawn from `pick`), checks it
/// refuses to start, rebuilds it. Returns the window (from the stop until
/// the new id caught up) and what the damaged replica did.
pub(super) async fn damage_and_rebuild(
    stage: &mut Stage<'_>,
    node: u64,
    pick: &mut SplitMix64,
) -> anyhow::Result<(u64, u64, Refusal)> {
    let cluster = stage.cluster_mut()?;
    let stopped = tokio::task::block_in_place(|| cluster.stop_node(node))?;
    let start = stage.now_us();
    if !stopped.is_some_and(|status| status.success()) {
        tracing::warn!(node, ?stopped, "the replica did not stop cleanly; its latest writes may be in its log only");
    }
    let damage = Damage::draw(pick);
    let damaged = damage.apply(&stage.cluster()?.node(node)?.data_dir, pick)?;
    tracing::info!(node, %damaged, "data file damaged");
    let mut refusal = start_damaged(stage, node, damaged.to_string()).await?;
    tracing::info!(node, exit = refusal.exit, refused = refusal.refused, served = refusal.served, "damaged start");

    stage.region.wait_for_leader(LEADER_WAIT).await.context("no leader to rebuild the damaged replica from")?;
    let new = stage.cluster_mut()?.rebuild_node(node)?;
    refusal.rebuilt_as = new;
    wait_replaced(stage, node, new).await?;
    stage.wait_caught_up(new, CATCH_UP_TIMEOUT).await.with_context(|| format!("node {new}, rebuilt from {node}"))?;
    tracing::info!(old = node, new, "damaged replica rebuilt");
    Ok((start, stage.now_us(), refusal))
}

/// Starts `node` on its (damaged) data as a plain restart and watches it
/// for up to [`REFUSE_TIMEOUT`]: whether it exits, how, whether what it
/// logs names the rebuild command, whether its API accepts a connection.
/// It is left stopped either way; `damage` says what was done to it. The
/// refusal names `node` as its own rebuilt id until it is rebuilt.
async fn start_damaged(stage: &mut Stage<'_>, node: u64, damage: String) -> anyhow::Result<Refusal> {
    let (log, api) = {
        let launched = stage.cluster()?.node(node)?;
        (launched.log.clone(), launched.addrs.api)
    };
    let logged_before = std::fs::metadata(&log).map_or(0, |meta| meta.len());
    stage.cluster_mut()?.start_node(node, false)?;
    let deadline = Instant::now() + REFUSE_TIMEOUT;
    let mut served = false;
    let exited = loop {
        if let Some(status) = stage.cluster_mut()?.take_exited(node)? {
            break Some(status);
        }
        served |= listening(api).await;
        if served || Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let exit = match exited {
        Some(status) => status.to_string(),
        None => {
            let cluster = stage.cluster_mut()?;
            tokio::task::block_in_place(|| cluster.stop_node(node))?;
            if served {
                "started and opened its API".to_owned()
            } else {
                format!("still running after {REFUSE_TIMEOUT:?}")
            }
        }
    };
    let said = logged_since(&log, logged_before)?;
    let names_rebuild = said.contains(REBUILD_COMMAND);
    if !names_rebuild {
        tracing::warn!(node, said = %log_tail(&log), "the damaged replica's log does not name the rebuild command");
    }
    Ok(Refusal {
        node,
        damage,
        refused: exited.is_some_and(|status| !status.success()),
        exit,
        names_rebuild,
        served,
        rebuilt_as: node,
    })
}

/// Whether something accepts connections at `addr`.
async fn listening(addr: SocketAddr) -> bool {
    matches!(tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr)).await, Ok(Ok(_)))
}

/// What was appended to the log at `path` after its first `offset` bytes.
fn logged_since(path: &std::path::Path, offset: u64) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let from = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
    Ok(String::from_utf8_lossy(&bytes[from..]).into_owned())
}

/// Waits until node `new` (the rebuild's process) reports a configuration
/// whose voters include it and not `old`; fails early, with the end of its
/// log, if the rebuild stops. It is asked only once its API listens (an
/// admin call to a closed port retries for its whole deadline).
async fn wait_replaced(stage: &mut Stage<'_>, old: u64, new: u64) -> anyhow::Result<()> {
    let api = stage.cluster()?.node(new)?.addrs.api;
    let deadline = Instant::now() + REBUILD_TIMEOUT;
    loop {
        if let Some(status) = stage.cluster_mut()?.take_exited(new)? {
            let log = &stage.cluster()?.node(new)?.log;
            anyhow::bail!(
                "the rebuild of node {old} as {new} stopped ({status}); the end of its log:\n{}",
                log_tail(log)
            );
        }
        if listening(api).await
            && let Some(status) = stage.status(new).await
        {
            let voters = voter_ids(&status);
            if voters.contains(&new) && !voters.contains(&old) {
                return Ok(());
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "node {new} was not a voter in place of {old} within {REBUILD_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
