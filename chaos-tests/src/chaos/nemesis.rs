//! The nemesis: named faults applied to a running [`Cluster`] on a
//! schedule drawn from the seed, each healed before the next, with the
//! window of every fault recorded.
//!
//! - `leader-kill`: SIGKILL the current leader, restart it after a pause.
//! - `pause`: SIGSTOP the leader's process, SIGCONT it after a while.
//! - `minority-partition`: every link between the leader and the others is
//!   dropped both ways (admin `SetFaults` on each node), then healed.
//!
//! Only processes the cluster started are signalled, by pid.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use protos::admin::admin_client::AdminClient;
use protos::admin::{FaultConfig, LinkDirection, LinkRule, SetFaultsRequest};
use region_client::RegionClient;
use serde::Serialize;

use super::history::micros;
use super::rng::SplitMix64;
use crate::cluster::Cluster;

/// A kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// No fault: the baseline.
    None,
    /// Kill -9 the leader, restart it after a pause.
    LeaderKill,
    /// SIGSTOP the leader, SIGCONT it after a while.
    Pause,
    /// Cut the leader off from the other replicas, then heal.
    MinorityPartition,
}

impl Fault {
    /// Every fault, in the order `chaos list` shows and `chaos suite` runs.
    pub const ALL: [Self; 4] = [Self::None, Self::LeaderKill, Self::Pause, Self::MinorityPartition];

    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::LeaderKill => "leader-kill",
            Self::Pause => "pause",
            Self::MinorityPartition => "minority-partition",
        }
    }

    /// One line on what it does.
    pub fn describe(self) -> &'static str {
        match self {
            Self::None => "no fault: the flash sale alone (baseline)",
            Self::LeaderKill => "kill -9 the leader, restart it on its data after a pause; repeated",
            Self::Pause => "SIGSTOP the leader's process, SIGCONT it after a while; repeated",
            Self::MinorityPartition => {
                "drop every link between the leader and the others (SetFaults), then heal; repeated"
            }
        }
    }
}

/// When a fault was in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FaultWindow {
    /// The fault's name.
    pub fault: &'static str,
    /// The node it hit.
    pub node: u64,
    /// When it started, in microseconds since the run started.
    pub start_us: u64,
    /// When it was healed, in microseconds since the run started.
    pub end_us: u64,
}

/// How long a leader may take to appear before a fault is skipped.
const LEADER_WAIT: Duration = Duration::from_secs(10);

/// Applies `fault` repeatedly until `until` (a fault is only begun if it
/// can end in time), healing each; windows are timed from `clock` (the
/// history's start). `admin` is a client with the admin token.
pub async fn run(
    fault: Fault,
    seed: u64,
    cluster: &mut Cluster,
    admin: &RegionClient,
    clock: Instant,
    until: Instant,
) -> anyhow::Result<Vec<FaultWindow>> {
    let mut windows = Vec::new();
    if fault == Fault::None {
        tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
        return Ok(windows);
    }
    let mut rng = SplitMix64::derive(seed, u64::MAX);
    tokio::time::sleep(Duration::from_millis(rng.range(500, 1500))).await;
    loop {
        let length = Duration::from_millis(rng.range(1000, 3000));
        let quiet = Duration::from_millis(rng.range(1000, 2000));
        if Instant::now() + length > until {
            break;
        }
        let leader = match cluster.wait_for_leader(LEADER_WAIT).await {
            Ok(leader) => leader,
            Err(error) => {
                tracing::warn!(%error, "no leader to hit; fault skipped");
                tokio::time::sleep(quiet).await;
                continue;
            }
        };
        let begin = micros(clock.elapsed());
        tracing::info!(fault = fault.name(), node = leader, "fault begins");
        match fault {
            Fault::None => {}
            Fault::LeaderKill => {
                cluster.kill_node(leader)?;
                tokio::time::sleep(length).await;
                cluster.start_node(leader, false)?;
            }
            Fault::Pause => {
                let pid = cluster.node(leader)?.pid().context("the leader has no process")?;
                signal("STOP", pid)?;
                tokio::time::sleep(length).await;
                signal("CONT", pid)?;
            }
            Fault::MinorityPartition => {
                isolate(cluster, admin, leader).await?;
                tokio::time::sleep(length).await;
                heal_links(cluster, admin).await?;
            }
        }
        let end = micros(clock.elapsed());
        tracing::info!(fault = fault.name(), node = leader, "fault healed");
        windows.push(FaultWindow { fault: fault.name(), node: leader, start_us: begin, end_us: end });
        tokio::time::sleep(quiet).await;
    }
    Ok(windows)
}

/// Undoes every fault: starts stopped nodes, continues paused ones, clears
/// every node's link faults.
pub async fn heal_all(cluster: &mut Cluster, admin: &RegionClient) -> anyhow::Result<()> {
    let ids: Vec<u64> = cluster.nodes().iter().map(|n| n.addrs.id).collect();
    for id in ids {
        match cluster.node(id)?.pid() {
            Some(pid) => signal("CONT", pid)?,
            None => cluster.start_node(id, false)?,
        }
    }
    heal_links(cluster, admin).await
}

/// Sends `kill -<name> <pid>` (`pid` must be a process the cluster started).
fn signal(name: &str, pid: u32) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .with_context(|| format!("cannot run kill -{name} {pid}"))?;
    anyhow::ensure!(status.success(), "kill -{name} {pid} failed ({status})");
    Ok(())
}

/// Drops every message between `leader` and the other nodes, both ways,
/// on both ends.
async fn isolate(cluster: &Cluster, admin: &RegionClient, leader: u64) -> anyhow::Result<()> {
    let ids: Vec<u64> = cluster.nodes().iter().map(|n| n.addrs.id).collect();
    let drop_all =
        |peer| LinkRule { peer_node_id: peer, direction: LinkDirection::Both.into(), drop_ppm: 1_000_000, delay_ms: 0 };
    for &id in &ids {
        let links = if id == leader {
            ids.iter().filter(|&&p| p != leader).map(|&p| drop_all(p)).collect()
        } else {
            vec![drop_all(leader)]
        };
        set_faults(cluster, admin, id, FaultConfig { links, ..FaultConfig::default() }).await?;
    }
    Ok(())
}

/// Clears every node's faults.
async fn heal_links(cluster: &Cluster, admin: &RegionClient) -> anyhow::Result<()> {
    let ids: Vec<u64> = cluster.nodes().iter().map(|n| n.addrs.id).collect();
    for id in ids {
        set_faults(cluster, admin, id, FaultConfig::default()).await?;
    }
    Ok(())
}

/// Replaces node `id`'s fault configuration.
async fn set_faults(cluster: &Cluster, admin: &RegionClient, id: u64, faults: FaultConfig) -> anyhow::Result<()> {
    let endpoint = cluster.api_endpoints(Some(id)).into_iter().next().context("the cluster has no nodes")?;
    admin
        .call_endpoint(&endpoint, "Admin/SetFaults", SetFaultsRequest { faults: Some(faults) }, |channel, r| async {
            AdminClient::new(channel).set_faults(r).await
        })
        .await
        .with_context(|| format!("SetFaults on node {id}"))?;
    Ok(())
}
