//! The nemesis: named faults applied to a running region ([`Target`]: a
//! [`Cluster`] the harness launched, or a deployment it did not) on a
//! schedule drawn from the seed, each healed before the next, with the
//! window of every fault recorded.
//!
//! A run's [`Scenario`] names one fault, several, or a named combination;
//! [`schedule::plan`] lays out the windows (when, how long, which of the
//! scenario's faults) from the seed alone, and [`run`] applies them: each
//! window looks up the leader, picks its targets with the window's own
//! random bits, applies the fault, holds it, and heals it. `chaos list`
//! describes every fault and combination.
//!
//! # Layout
//!
//! - [`fault`]: the named faults: what each does, its planned length,
//!   whether it needs the processes in hand.
//! - [`scenario`]: a run's faults: one, a list, or a named combination.
//! - [`schedule`]: the windows, planned from the seed.
//! - `process`: kill -9 and restart, SIGSTOP/SIGCONT, the rolling restart.
//! - [`partition`]: link faults through `Admin.SetFaults`: the rule set of
//!   each shape (isolate, split, ring, one-way, slow, lossy), pure.
//! - `membership`: a voter replaced under load, and the learner crashed in
//!   the middle of a snapshot.
//! - `hooks`: faults through a node's other hooks: slow and failing disk
//!   syncs, the leader's clock jump.
//! - [`damage`]: the damage done to a stopped replica's data files.
//! - `rebuild`: the damaged-files window: stop, damage, the refusal to
//!   start, the rebuild from the peers under a fresh id.
//! - [`quorum`]: the check that goes with the majority kill.
//! - [`refused`]: the check that goes with the damaged files.
//!
//! **Invariant:** only processes the cluster started are signalled, by pid
//! (the launcher's own invariant; this module never runs `kill` itself); a
//! deployment's processes are never touched, only its admin API.

pub mod damage;
pub mod fault;
mod hooks;
mod membership;
pub mod partition;
mod process;
pub mod quorum;
mod rebuild;
pub mod refused;
pub mod scenario;
pub mod schedule;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use protos::admin::admin_client::AdminClient;
use protos::admin::{ClusterStatusRequest, FaultConfig, GroupStatus, LinkDirection, SetFaultsRequest};
use region_client::{ClientConfig, ClientError, EndpointAddr, RegionClient};
use serde::Serialize;

pub use fault::Fault;
use partition::Shape;
pub use scenario::Scenario;
use schedule::Planned;

use super::history::micros;
use super::rng::SplitMix64;
use super::target::Target;
use crate::cluster::Cluster;

/// When a fault was in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FaultWindow {
    /// The fault's name.
    pub fault: &'static str,
    /// The node it hit: the first of [`FaultWindow::nodes`].
    pub node: u64,
    /// Every node it hit: the ones killed, paused, cut off or whose hooks
    /// were set; for a fault of the whole region (ring, slow or lossy
    /// links, rolling restart) the leader when it began; for a membership
    /// change the node added.
    pub nodes: Vec<u64>,
    /// When it was in force from (after the kill, the pause, the rules were
    /// set; when the steps began), in microseconds since the run started.
    pub start_us: u64,
    /// When it was healed (before the restart, the resume, the clearing;
    /// when the steps ended), in microseconds since the run started.
    pub end_us: u64,
    /// For damaged files, what the damaged replica did when started on
    /// them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<refused::Refusal>,
}

impl FaultWindow {
    /// `node 3`, or `nodes 3, 1` for a fault of several, for reports.
    pub fn nodes_label(&self) -> String {
        match self.nodes.as_slice() {
            [] | [_] => format!("node {}", self.node),
            many => format!("nodes {}", many.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
        }
    }
}

/// How long a leader may take to appear before a fault is skipped, or
/// after a step that needs one.
const LEADER_WAIT: Duration = Duration::from_secs(10);

/// Each admin call's deadline, retries included (`AddLearner` waits for the
/// learner to catch up).
const ADMIN_DEADLINE: Duration = Duration::from_secs(10);

/// How long a restarted or new node may take to catch up with the leader.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a node's admin API may stay unreachable while it is being
/// asked to change its faults (it may be restarting).
const SET_FAULTS_TIMEOUT: Duration = Duration::from_secs(10);

/// Applies the windows of `scenario`'s schedule for `seed` from now until
/// `until`, healing each; windows are recorded in time since `clock` (the
/// history's start). Admin calls use the region's admin token.
pub async fn run(
    scenario: &Scenario,
    seed: u64,
    region: &mut Target,
    clock: Instant,
    until: Instant,
) -> anyhow::Result<Vec<FaultWindow>> {
    let members = u64::try_from(region.node_ids().len()).unwrap_or(u64::MAX);
    // Windows are planned from now (the load's start), recorded from `clock`.
    let began = Instant::now();
    let plan = schedule::plan(scenario.faults(), members, seed, until.saturating_duration_since(began));
    if plan.is_empty() && !scenario.faults().is_empty() {
        tracing::warn!(scenario = scenario.name(), "the run is too short for any fault window of this scenario");
    }
    let mut windows = Vec::new();
    for planned in plan {
        tokio::time::sleep_until((began + planned.start).into()).await;
        if Instant::now() + planned.length > until {
            tracing::info!(fault = planned.fault.name(), "no time left for the next window; it is skipped");
            break;
        }
        let admin = admin_client(region)?;
        let mut stage = Stage { region: &mut *region, admin: &admin, clock };
        if let Some(window) = apply(&mut stage, &planned).await? {
            windows.push(window);
        }
    }
    Ok(windows)
}

/// Undoes every fault: continues paused nodes, starts stopped ones, clears
/// every node's link faults.
pub async fn heal_all(region: &mut Target) -> anyhow::Result<()> {
    if let Target::Launched(cluster) = region {
        let ids: Vec<u64> = cluster.nodes().iter().map(|node| node.addrs.id).collect();
        for id in ids {
            cluster.resume_node(id)?;
            if !cluster.node(id)?.is_started() {
                cluster.start_node(id, false)?;
            }
        }
    }
    let admin = admin_client(region)?;
    partition::heal(&Stage { region, admin: &admin, clock: Instant::now() }).await
}

/// A fresh client with the admin token over the region's current members:
/// one per window, so that the nodes membership changes add never overflow
/// a client's list of endpoints ([`region_client::ENDPOINTS_MAX`]).
fn admin_client(region: &Target) -> anyhow::Result<RegionClient> {
    region.client(&region.tokens().admin, None, ClientConfig::with_deadline(ADMIN_DEADLINE))
}

/// One window: looks up the leader, picks the targets, applies, holds and
/// heals `planned`'s fault. `None` when it was skipped (no leader).
async fn apply(stage: &mut Stage<'_>, planned: &Planned) -> anyhow::Result<Option<FaultWindow>> {
    let fault = planned.fault;
    let leader = match stage.region.wait_for_leader(LEADER_WAIT).await {
        Ok(leader) => leader,
        Err(error) => {
            tracing::warn!(%error, fault = fault.name(), "no leader to aim at; window skipped");
            return Ok(None);
        }
    };
    let mut pick = SplitMix64::new(planned.pick);
    let members = stage.members();
    let followers: Vec<u64> = members.iter().copied().filter(|&node| node != leader).collect();
    let mut targets = match fault {
        Fault::None => return Ok(None),
        Fault::FollowerKill | Fault::FollowerPause | Fault::DiskFail | Fault::DamagedFiles => {
            choose(&followers, 1, &mut pick)
        }
        Fault::MinorityKill | Fault::Split => choose(&members, members.len().saturating_sub(1) / 2, &mut pick),
        Fault::MajorityKill => choose(&members, members.len() / 2 + 1, &mut pick),
        Fault::DiskSlow => choose(&members, 1, &mut pick),
        // The leader, or for a fault of the whole region the leader when
        // it began.
        Fault::LeaderKill
        | Fault::Pause
        | Fault::MinorityPartition
        | Fault::Ring
        | Fault::OneWayInbound
        | Fault::OneWayOutbound
        | Fault::SlowLinks
        | Fault::LossyLinks
        | Fault::RollingRestart
        | Fault::MembershipChange
        | Fault::SnapshotCrash
        | Fault::ClockJump => vec![leader],
    };
    if targets.is_empty() {
        tracing::warn!(fault = fault.name(), members = members.len(), "no node to hit; window skipped");
        return Ok(None);
    }
    let length = planned.length;
    let mut refusal = None;
    let (start_us, end_us) = match fault {
        Fault::None => return Ok(None),
        Fault::LeaderKill | Fault::FollowerKill | Fault::MinorityKill | Fault::MajorityKill => {
            process::crash(stage, &targets, length).await?
        }
        Fault::Pause | Fault::FollowerPause => process::pause(stage, &targets, length).await?,
        Fault::MinorityPartition | Fault::Split => {
            let shape = Shape::Split { side: targets.iter().copied().collect() };
            hold_links(stage, &shape, planned).await?
        }
        Fault::Ring => {
            let order = choose(&members, members.len(), &mut pick);
            hold_links(stage, &Shape::Ring { order }, planned).await?
        }
        Fault::OneWayInbound => {
            hold_links(stage, &Shape::OneWay { node: leader, direction: LinkDirection::Inbound }, planned).await?
        }
        Fault::OneWayOutbound => {
            hold_links(stage, &Shape::OneWay { node: leader, direction: LinkDirection::Outbound }, planned).await?
        }
        Fault::SlowLinks => hold_links(stage, &Shape::Slow { delay_ms: pick.range(20, 250) }, planned).await?,
        Fault::LossyLinks => {
            let drop_ppm = u32::try_from(pick.range(50_000, 300_000)).unwrap_or(partition::DROP_ALL_PPM);
            hold_links(stage, &Shape::Lossy { drop_ppm }, planned).await?
        }
        Fault::RollingRestart => process::rolling_restart(stage, leader).await?,
        Fault::MembershipChange | Fault::SnapshotCrash => {
            let crash = fault == Fault::SnapshotCrash;
            let (start, end, added) = membership::replace_voter(stage, leader, &mut pick, crash).await?;
            targets = vec![added];
            (start, end)
        }
        Fault::DiskSlow => hooks::slow_disk(stage, &targets, pick.range(50, 250), length).await?,
        Fault::DiskFail => hooks::failing_disk(stage, &targets, length).await?,
        Fault::DamagedFiles => {
            let damaged = targets.first().copied().context("no follower to damage")?;
            let (start, end, refused) = rebuild::damage_and_rebuild(stage, damaged, &mut pick).await?;
            targets.push(refused.rebuilt_as);
            refusal = Some(refused);
            (start, end)
        }
        Fault::ClockJump => {
            let offset_ms = if pick.one_in(2) { hooks::CLOCK_JUMP_MS } else { -hooks::CLOCK_JUMP_MS };
            hooks::clock_jump(stage, leader, offset_ms, length).await?
        }
    };
    tracing::info!(fault = fault.name(), ?targets, leader, start_us, end_us, "fault window healed");
    let node = targets.first().copied().unwrap_or(leader);
    Ok(Some(FaultWindow { fault: fault.name(), node, nodes: targets, start_us, end_us, refusal }))
}

/// Sets `shape`'s link rules, holds them for the window's length, clears
/// them.
async fn hold_links(stage: &Stage<'_>, shape: &Shape, planned: &Planned) -> anyhow::Result<(u64, u64)> {
    partition::apply(stage, partition::rules(shape, &stage.members()), planned.pick).await?;
    let start = stage.now_us();
    tokio::time::sleep(planned.length).await;
    let end = stage.now_us();
    partition::heal(stage).await?;
    Ok((start, end))
}

/// `count` distinct members of `from` in a random order (all of them, in
/// a random order, when `count` is at least their number).
fn choose(from: &[u64], count: usize, pick: &mut SplitMix64) -> Vec<u64> {
    let mut pool = from.to_vec();
    let count = count.min(pool.len());
    for i in 0..count {
        let last = u64::try_from(pool.len() - 1).unwrap_or(u64::MAX);
        let j = usize::try_from(pick.range(u64::try_from(i).unwrap_or(u64::MAX), last)).unwrap_or(i);
        pool.swap(i, j);
    }
    pool.truncate(count);
    pool
}

/// What a window works with: the cluster, an admin client, the run's clock.
pub(super) struct Stage<'a> {
    /// The region.
    region: &'a mut Target,
    /// A client with the admin token.
    admin: &'a RegionClient,
    /// When the run (its history) started.
    clock: Instant,
}

impl Stage<'_> {
    /// Microseconds since the run started.
    fn now_us(&self) -> u64 {
        micros(self.clock.elapsed())
    }

    /// The current members' ids.
    fn members(&self) -> Vec<u64> {
        self.region.node_ids()
    }

    /// Node `id`'s client-facing address.
    fn endpoint(&self, id: u64) -> anyhow::Result<EndpointAddr> {
        self.region.api_endpoint(id)
    }

    /// The launched processes (an error against a deployment, whose
    /// processes the harness never signals).
    fn cluster(&self) -> anyhow::Result<&Cluster> {
        self.region.launched()
    }

    /// The launched processes, to kill, pause or restart them.
    fn cluster_mut(&mut self) -> anyhow::Result<&mut Cluster> {
        self.region.launched_mut()
    }

    /// Node `id`'s own view of the group, if it answers.
    async fn status(&self, id: u64) -> Option<GroupStatus> {
        let endpoint = self.endpoint(id).ok()?;
        self.admin
            .call_endpoint(&endpoint, "Admin/ClusterStatus", ClusterStatusRequest::default(), |channel, r| async {
                AdminClient::new(channel).cluster_status(r).await
            })
            .await
            .ok()?
            .groups
            .into_iter()
            .next()
    }

    /// Polls node `id` until its status satisfies `done`, for up to
    /// `timeout`.
    async fn wait_status(
        &self,
        id: u64,
        timeout: Duration,
        done: impl Fn(&GroupStatus) -> bool,
    ) -> anyhow::Result<GroupStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.status(id).await.filter(&done) {
                return Ok(status);
            }
            anyhow::ensure!(Instant::now() < deadline, "node {id}: condition not met within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until node `id` has applied everything the leader (found
    /// first) had committed when asked: it is back in the group, not merely
    /// running.
    async fn wait_caught_up(&mut self, id: u64, timeout: Duration) -> anyhow::Result<()> {
        let leader = self.region.wait_for_leader(LEADER_WAIT).await?;
        let target = self.status(leader).await.with_context(|| format!("leader {leader} does not answer"))?;
        let target = target.commit_index;
        self.wait_status(id, timeout, |status| status.applied_index >= target)
            .await
            .with_context(|| format!("node {id} did not catch up to index {target}"))
            .map(drop)
    }

    /// Replaces node `id`'s fault configuration, retrying for up to
    /// [`SET_FAULTS_TIMEOUT`] while the node does not answer (it may have
    /// just been restarted).
    async fn set_faults(&self, id: u64, faults: FaultConfig) -> anyhow::Result<()> {
        let endpoint = self.endpoint(id)?;
        let deadline = Instant::now() + SET_FAULTS_TIMEOUT;
        loop {
            let request = SetFaultsRequest { faults: Some(faults.clone()) };
            let result = self
                .admin
                .call_endpoint(&endpoint, "Admin/SetFaults", request, |channel, r| async {
                    AdminClient::new(channel).set_faults(r).await
                })
                .await;
            match result {
                Ok(_) => return Ok(()),
                Err(ClientError::Rejected { status, .. }) => {
                    anyhow::bail!("SetFaults on node {id} was refused: {status}")
                }
                Err(error) if Instant::now() >= deadline => {
                    return Err(error).with_context(|| format!("SetFaults on node {id}"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The group's voters, as `leader` knows them.
    async fn voters(&self, leader: u64) -> anyhow::Result<Vec<u64>> {
        let status = self.status(leader).await.with_context(|| format!("leader {leader} does not answer"))?;
        let voters = voter_ids(&status);
        anyhow::ensure!(!voters.is_empty(), "leader {leader} reports no voters");
        Ok(voters)
    }
}

/// The voters of the latest configuration `status` reports.
fn voter_ids(status: &GroupStatus) -> Vec<u64> {
    status
        .membership
        .as_ref()
        .and_then(|membership| membership.configs.last())
        .map_or_else(Vec::new, |config| config.node_ids.clone())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn a_window_names_every_node_it_hit() {
        let window = |nodes: Vec<u64>| FaultWindow {
            fault: "minority-kill",
            node: 3,
            nodes,
            start_us: 0,
            end_us: 1,
            refusal: None,
        };
        assert_eq!(window(vec![3, 1]).nodes_label(), "nodes 3, 1");
        assert_eq!(window(vec![3]).nodes_label(), "node 3");
        assert_eq!(window(Vec::new()).nodes_label(), "node 3");
    }

    #[test]
    fn choose_draws_distinct_members_from_the_seed() {
        let members = [1, 2, 3, 4, 5];
        let a = choose(&members, 3, &mut SplitMix64::new(9));
        assert_eq!(a, choose(&members, 3, &mut SplitMix64::new(9)));
        let distinct: BTreeSet<u64> = a.iter().copied().collect();
        assert_eq!(distinct.len(), 3);
        assert!(distinct.iter().all(|m| members.contains(m)));
        let mut all = choose(&members, 9, &mut SplitMix64::new(9));
        all.sort_unstable();
        assert_eq!(all, members);
        assert!(choose(&[], 1, &mut SplitMix64::new(9)).is_empty());
    }
}
