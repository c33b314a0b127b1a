//! Membership changes under load: a new node joins under a fresh id, is
//! added as a learner, promoted to voter in place of an old voter, and the
//! old voter's process is stopped and forgotten, so the region keeps its
//! size and [`crate::cluster::Cluster::nodes`] its current members.
//!
//! The crash-during-snapshot variant first has the leader take a snapshot
//! (with the region's `logs_kept_after_snapshot` at 0 the older log is
//! purged, so the learner can only catch up by a snapshot), slows the
//! learner's inbound link from the leader so the transfer takes a while,
//! kills the learner (SIGKILL) in the middle of it, restarts it and waits
//! until it has caught up before promoting it.

use std::time::Duration;

use anyhow::Context as _;
use protos::admin::admin_client::AdminClient;
use protos::admin::{
    AddLearnerRequest, ChangeMembershipRequest, FaultConfig, LinkDirection, LinkRule, TriggerSnapshotRequest,
};

use super::{CATCH_UP_TIMEOUT, LEADER_WAIT, Stage};
use crate::chaos::rng::SplitMix64;

/// Delay on each request from the leader to a learner that is to crash
/// mid-snapshot: the snapshot's header and each chunk wait this long, so the
/// transfer spans a few of them.
const SNAPSHOT_DELAY_MS: u64 = 400;

/// How long a step (a snapshot being built, a new node answering) may
/// take.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// The log line a node writes once it has received a whole snapshot.
const SNAPSHOT_RECEIVED: &str = "installing a received snapshot";

/// Replaces a random voter (maybe the leader) by a new node; with
/// `crash_in_snapshot`, the new node first crashes while receiving a
/// snapshot. Returns the window and the new node's id.
pub(super) async fn replace_voter(
    stage: &mut Stage<'_>,
    leader: u64,
    pick: &mut SplitMix64,
    crash_in_snapshot: bool,
) -> anyhow::Result<(u64, u64, u64)> {
    let start = stage.now_us();
    let voters = stage.voters(leader).await?;
    if crash_in_snapshot {
        snapshot(stage, leader).await?;
    }
    let new = stage.cluster_mut()?.add_node()?;
    stage.wait_status(new, STEP_TIMEOUT, |_| true).await.with_context(|| format!("new node {new} never answered"))?;
    if crash_in_snapshot {
        let slow = LinkRule {
            peer_node_id: leader,
            direction: LinkDirection::Inbound.into(),
            drop_ppm: 0,
            delay_ms: SNAPSHOT_DELAY_MS,
        };
        stage.set_faults(new, FaultConfig { links: vec![slow], ..FaultConfig::default() }).await?;
        add_learner(stage, new, false).await?;
        // The header arrives after one delay, the data after another.
        tokio::time::sleep(Duration::from_millis(pick.range(SNAPSHOT_DELAY_MS * 5 / 4, SNAPSHOT_DELAY_MS * 11 / 4)))
            .await;
        stage.cluster_mut()?.kill_node(new)?;
        let received = received_snapshot(stage, new)?;
        tracing::info!(node = new, mid_transfer = !received, "learner killed while the snapshot was sent");
        // The restart clears its link faults (they live in memory only).
        stage.cluster_mut()?.start_node(new, false)?;
        stage.wait_caught_up(new, CATCH_UP_TIMEOUT).await.context("the restarted learner")?;
        let by_snapshot = received_snapshot(stage, new)?;
        tracing::info!(node = new, by_snapshot, "restarted learner caught up");
    } else {
        add_learner(stage, new, true).await?;
    }
    let last = u64::try_from(voters.len().saturating_sub(1)).unwrap_or(0);
    let index = usize::try_from(pick.range(0, last)).unwrap_or(0);
    let old = *voters.get(index).context("the group has no voters")?;
    let mut next: Vec<u64> = voters.iter().copied().filter(|&voter| voter != old).collect();
    next.push(new);
    change_voters(stage, next).await?;
    let cluster = stage.cluster_mut()?;
    tokio::task::block_in_place(|| cluster.remove_node(old))?;
    tracing::info!(added = new, removed = old, "voter replaced");
    stage.cluster_mut()?.wait_for_leader(LEADER_WAIT).await?;
    Ok((start, stage.now_us(), new))
}

/// Whether node `id`'s log says it has received a whole snapshot.
fn received_snapshot(stage: &Stage<'_>, id: u64) -> anyhow::Result<bool> {
    let log = &stage.cluster()?.node(id)?.log;
    Ok(std::fs::read_to_string(log).is_ok_and(|text| text.contains(SNAPSHOT_RECEIVED)))
}

/// Has `leader` build a snapshot now and waits until it covers the index
/// it was asked at.
async fn snapshot(stage: &Stage<'_>, leader: u64) -> anyhow::Result<()> {
    let endpoint = stage.endpoint(leader)?;
    let asked = stage
        .admin
        .call_endpoint(&endpoint, "Admin/TriggerSnapshot", TriggerSnapshotRequest::default(), |channel, r| async {
            AdminClient::new(channel).trigger_snapshot(r).await
        })
        .await
        .context("TriggerSnapshot on the leader")?
        .applied_index;
    stage
        .wait_status(leader, STEP_TIMEOUT, |status| status.snapshot_index.is_some_and(|index| index >= asked))
        .await
        .with_context(|| format!("node {leader} built no snapshot covering index {asked}"))?;
    Ok(())
}

/// Adds node `id` as a learner through the leader; `blocking` waits until
/// it has caught up.
async fn add_learner(stage: &Stage<'_>, id: u64, blocking: bool) -> anyhow::Result<()> {
    let addrs = stage.cluster()?.node(id)?.addrs.clone();
    let request = AddLearnerRequest {
        group_id: String::new(),
        node_id: id,
        address: addrs.raft.to_string(),
        blocking,
        api_address: addrs.api.to_string(),
    };
    stage
        .admin
        .call("Admin/AddLearner", request, |channel, r| async move { AdminClient::new(channel).add_learner(r).await })
        .await
        .with_context(|| format!("AddLearner {id}"))?;
    Ok(())
}

/// Makes `voters` the group's voters; removed voters leave the group.
async fn change_voters(stage: &Stage<'_>, voters: Vec<u64>) -> anyhow::Result<()> {
    let request =
        ChangeMembershipRequest { group_id: String::new(), voter_ids: voters.clone(), retain_as_learners: false };
    stage
        .admin
        .call("Admin/ChangeMembership", request, |channel, r| async move {
            AdminClient::new(channel).change_membership(r).await
        })
        .await
        .with_context(|| format!("ChangeMembership to voters {voters:?}"))?;
    Ok(())
}
