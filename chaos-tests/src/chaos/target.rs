//! What a run drives: a region the harness launched ([`Cluster`]), or an
//! existing deployment named by a TOML file (`chaos run --target FILE`).
//! [`Target`] serves both, so the workload, the nemesis, the final reads
//! and the checkers are the same code either way.
//!
//! The target file lists the region's nodes and the credentials:
//!
//! ```toml
//! [[nodes]]
//! id = 1
//! api_addr = "127.0.0.1:7201"
//! [[nodes]]
//! id = 2
//! api_addr = "127.0.0.1:7202"
//!
//! [tokens]
//! admin = "env:CHAOS_ADMIN_TOKEN"     # `env:NAME` reads the environment, as regiond's config does
//! service = "env:CHAOS_SERVICE_TOKEN"
//! [tokens.warehouses]                 # the workload's warehouses: <region>-wh-1 and <region>-wh-2
//! eu-west-wh-1 = "env:CHAOS_TOKEN_WH_1"
//! eu-west-wh-2 = "env:CHAOS_TOKEN_WH_2"
//! ```
//!
//! The nodes must accept these tokens (the same ones in their own
//! `[tokens]`, the warehouses' under those ids: the workload registers them
//! and stocks them, see [`super::workload::Catalog`]).
//!
//! Against a deployment the harness starts and signals no process: only
//! faults that work through the nodes' admin API (`Admin.SetFaults`, served
//! only by nodes started with `fault_injection = true`) can be asked for;
//! [`check_scenario`] refuses the others before anything runs. The region's
//! name is read from the nodes (`ClusterStatus`), and every listed node must
//! answer as the id the file gives it. The region must be unused (an empty
//! stock journal): the checkers account for every entry and unit of stock,
//! so a second run against the same deployment is refused, not misjudged.
//! Dropping a deployment's handle clears every node's faults, so a failed
//! or interrupted run leaves none behind.
//!
//! - [`mod@file`] (`target_file.rs`): the target file, read and checked.
//! - `target_test.rs`: a whole run against a region the test launches itself.

#[path = "target_file.rs"]
pub mod file;
#[cfg(test)]
#[path = "target_test.rs"]
mod run_test;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use protos::admin::admin_client::AdminClient;
use protos::admin::{ClusterStatusRequest, ClusterStatusResponse};
use protos::common::PageRequest;
use protos::warehouse::ListJournalRequest;
use protos::warehouse::warehouse_inventory_client::WarehouseInventoryClient;
use region_client::{BearerToken, ClientConfig, EndpointAddr, RegionClient};

pub use file::Deployment;

use super::nemesis::{self, Fault, Scenario};
use crate::cluster::{self, Cluster, ClusterTokens};

/// How long one status call to a node of a deployment may take.
const PROBE_DEADLINE: Duration = Duration::from_secs(5);

/// How long clearing a deployment's faults may take when its handle is
/// dropped.
const CLEAR_ON_DROP: Duration = Duration::from_secs(15);

/// Fails, naming the scenario, when `scenario` needs processes the harness
/// would not own (a deployment target); `Ok` for a launched region.
pub fn check_scenario(scenario: &Scenario, deployment: Option<&Deployment>) -> anyhow::Result<()> {
    if let Some(deployment) = deployment
        && scenario.needs_processes()
    {
        let allowed: Vec<&str> = Fault::ALL.into_iter().filter(|f| !f.needs_processes()).map(Fault::name).collect();
        anyhow::bail!(
            "scenario {} kills, pauses or restarts processes, which the harness does not do to a deployment it did not \
             start (--target {}); against a target only these work through the admin API: {}",
            scenario.name(),
            deployment.path.display(),
            allowed.join(", ")
        );
    }
    Ok(())
}

/// The region under test.
#[derive(Debug)]
pub enum Target {
    /// Processes the harness launched and owns.
    Launched(Cluster),
    /// A deployment someone else runs; never signalled.
    Existing {
        /// Its nodes and credentials.
        deployment: Deployment,
        /// The region's name, as its nodes report it.
        region: String,
    },
}

impl Target {
    /// Connects to `deployment`: every node must answer `ClusterStatus` as
    /// the node id the file gives it, for the same region; with
    /// `needs_faults`, every node must have fault injection enabled.
    pub async fn connect(deployment: Deployment, needs_faults: bool) -> anyhow::Result<Self> {
        let admin = RegionClient::new(
            deployment.nodes.iter().map(|(_, addr)| addr.clone()),
            BearerToken::parse(&deployment.tokens.admin)?,
            ClientConfig::with_deadline(PROBE_DEADLINE),
        )?;
        let mut region: Option<String> = None;
        for (id, addr) in &deployment.nodes {
            let status = status(&admin, addr).await.with_context(|| format!("node {id} at {addr} did not answer"))?;
            anyhow::ensure!(status.node_id == *id, "the node at {addr} is node {}, not node {id}", status.node_id);
            anyhow::ensure!(
                status.faults_enabled || !needs_faults,
                "node {id} at {addr} runs without fault injection (`fault_injection = true` in its config), which the \
                 scenario needs"
            );
            let group = status.groups.first().with_context(|| format!("node {id} hosts no group"))?;
            let name = group
                .group_id
                .strip_prefix("region/")
                .with_context(|| format!("node {id} hosts group `{}`, not a region's", group.group_id))?;
            match &region {
                None => region = Some(name.to_owned()),
                Some(first) => anyhow::ensure!(first == name, "node {id} is in region {name}, not {first}"),
            }
        }
        let region = region.context("the target lists no node")?;
        ensure_unused(&admin, &region).await?;
        Ok(Self::Existing { deployment, region })
    }

    /// The region's name.
    pub fn region(&self) -> &str {
        match self {
            Self::Launched(cluster) => &cluster.spec().region,
            Self::Existing { region, .. } => region,
        }
    }

    /// The credentials.
    pub fn tokens(&self) -> &ClusterTokens {
        match self {
            Self::Launched(cluster) => &cluster.spec().tokens,
            Self::Existing { deployment, .. } => &deployment.tokens,
        }
    }

    /// The token of `warehouse`, or an error saying the target lacks it.
    pub fn warehouse_token(&self, warehouse: &str) -> anyhow::Result<&str> {
        self.tokens().warehouses.get(warehouse).map(String::as_str).with_context(|| {
            format!("no token for warehouse {warehouse} (add it under [tokens.warehouses] of the target file)")
        })
    }

    /// Every node (id and API address), by id order for a launched region,
    /// in file order for a deployment.
    pub fn nodes(&self) -> Vec<(u64, EndpointAddr)> {
        match self {
            Self::Launched(cluster) => cluster
                .nodes()
                .iter()
                .map(|n| {
                    (n.addrs.id, EndpointAddr::parse(&n.addrs.api.to_string()).expect("a socket address is host:port"))
                })
                .collect(),
            Self::Existing { deployment, .. } => deployment.nodes.clone(),
        }
    }

    /// Every node id.
    pub fn node_ids(&self) -> Vec<u64> {
        self.nodes().into_iter().map(|(id, _)| id).collect()
    }

    /// Node `id`'s API address.
    pub fn api_endpoint(&self, id: u64) -> anyhow::Result<EndpointAddr> {
        self.nodes().into_iter().find(|(n, _)| *n == id).map(|(_, addr)| addr).with_context(|| format!("no node {id}"))
    }

    /// A leader-aware client with `token`, asking node `first` (e.g. the
    /// known leader) first.
    pub fn client(&self, token: &str, first: Option<u64>, config: ClientConfig) -> anyhow::Result<RegionClient> {
        let mut nodes = self.nodes();
        nodes.sort_by_key(|(id, _)| Some(*id) != first);
        let token = BearerToken::parse(token).context("a bad token")?;
        Ok(RegionClient::new(nodes.into_iter().map(|(_, addr)| addr), token, config)?)
    }

    /// Waits until a node names the leader and the leader agrees; returns
    /// its id. A launched region fails early when a node exits.
    pub async fn wait_for_leader(&mut self, timeout: Duration) -> anyhow::Result<u64> {
        if let Self::Launched(cluster) = self {
            return Ok(cluster.wait_for_leader(timeout).await?);
        }
        let admin = self.client(&self.tokens().admin, None, ClientConfig::with_deadline(Duration::from_secs(2)))?;
        let nodes = self.nodes();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(leader) = cluster::agreed_leader(&admin, &nodes).await {
                return Ok(leader);
            }
            anyhow::ensure!(Instant::now() < deadline, "region {} elected no leader within {timeout:?}", self.region());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The launched processes, for the faults that kill, pause or restart
    /// them; an error for a deployment (the harness never signals it).
    pub fn launched_mut(&mut self) -> anyhow::Result<&mut Cluster> {
        match self {
            Self::Launched(cluster) => Ok(cluster),
            Self::Existing { deployment, .. } => Err(not_launched(deployment)),
        }
    }

    /// The launched processes (their files, addresses), read-only; an
    /// error for a deployment.
    pub fn launched(&self) -> anyhow::Result<&Cluster> {
        match self {
            Self::Launched(cluster) => Ok(cluster),
            Self::Existing { deployment, .. } => Err(not_launched(deployment)),
        }
    }

    /// Stops every launched process; a deployment is left running.
    pub fn shutdown(&mut self) {
        if let Self::Launched(cluster) = self {
            cluster.shutdown();
        }
    }
}

impl Drop for Target {
    /// A deployment is never left faulted: dropping its handle clears every
    /// node's faults, also when a run failed or was interrupted (Ctrl-C
    /// drops the run). A launched cluster stops its own processes instead.
    fn drop(&mut self) {
        if let Self::Existing { region, .. } = self {
            let region = region.clone();
            // A thread of its own, with its own runtime: a drop may happen
            // inside a runtime, or while one shuts down.
            let cleared = std::thread::scope(|scope| scope.spawn(|| clear_faults(self)).join());
            match cleared {
                Ok(Ok(())) => tracing::debug!(region, "the deployment's faults are cleared"),
                Ok(Err(error)) => tracing::error!(region, "could not clear the deployment's faults: {error:#}"),
                Err(_) => tracing::error!(region, "clearing the deployment's faults panicked"),
            }
        }
    }
}

/// Clears every node's faults (the nemesis' own healing), within
/// [`CLEAR_ON_DROP`].
fn clear_faults(region: &mut Target) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        tokio::time::timeout(CLEAR_ON_DROP, nemesis::heal_all(region))
            .await
            .with_context(|| format!("not done within {CLEAR_ON_DROP:?}"))?
    })
}

/// Why a deployment has no processes to fault.
fn not_launched(deployment: &Deployment) -> anyhow::Error {
    anyhow::anyhow!(
        "the region of {} was not started by the harness: it has no process to kill, pause or restart",
        deployment.path.display()
    )
}

/// Fails unless `region`'s stock journal is empty: the checkers account for
/// every journal entry and every unit of stock, so a run needs a region no
/// earlier run (or real traffic) has used.
async fn ensure_unused(admin: &RegionClient, region: &str) -> anyhow::Result<()> {
    let request = ListJournalRequest {
        page: Some(PageRequest { cursor: String::new(), limit: 1 }),
        ..ListJournalRequest::default()
    };
    let journal = admin
        .call("WarehouseInventory/ListJournal", request, |channel, request| async move {
            WarehouseInventoryClient::new(channel).list_journal(request).await
        })
        .await
        .with_context(|| format!("reading region {region}'s stock journal"))?;
    anyhow::ensure!(
        journal.entries.is_empty(),
        "region {region} has been used already (its stock journal is not empty): the checkers account for every \
         journal entry and unit of stock, so run against a region no one has used (a fresh deployment)"
    );
    Ok(())
}

/// The `ClusterStatus` of the node at `addr`.
async fn status(admin: &RegionClient, addr: &EndpointAddr) -> anyhow::Result<ClusterStatusResponse> {
    Ok(admin
        .call_endpoint(addr, "Admin/ClusterStatus", ClusterStatusRequest::default(), |channel, r| async {
            AdminClient::new(channel).cluster_status(r).await
        })
        .await?)
}

#[cfg(test)]
mod tests {
    use super::file::tests::{FILE, parse};
    use super::*;

    #[test]
    fn only_admin_api_faults_run_against_a_deployment() {
        let deployment = parse(FILE).unwrap();
        for fault in Fault::ALL {
            let scenario = Scenario::single(fault);
            assert!(check_scenario(&scenario, None).is_ok(), "a launched region takes every fault");
            let checked = check_scenario(&scenario, Some(&deployment));
            assert_eq!(checked.is_ok(), !fault.needs_processes(), "{}", fault.name());
            if let Err(error) = checked {
                assert!(error.to_string().contains(fault.name()), "{error}");
            }
        }
        assert!(check_scenario(&Scenario::single(Fault::MinorityPartition), Some(&deployment)).is_ok());
        assert!(check_scenario(&Scenario::single(Fault::LeaderKill), Some(&deployment)).is_err());
    }
}
