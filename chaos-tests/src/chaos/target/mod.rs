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
//! [tokens.warehouses]                 # one per warehouse the workload uses
//! eu-west-wh-1 = "env:CHAOS_TOKEN_WH_1"
//! ```
//!
//! Against a deployment the harness starts and signals no process: only
//! faults that work through the nodes' admin API (`Admin.SetFaults`, served
//! only by nodes started with `fault_injection = true`) can be asked for;
//! [`check_scenario`] refuses the others before anything runs. The region's
//! name is read from the nodes (`ClusterStatus`), and every listed node must
//! answer as the id the file gives it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use protos::admin::admin_client::AdminClient;
use protos::admin::{ClusterStatusRequest, ClusterStatusResponse};
use region_client::{BearerToken, ClientConfig, EndpointAddr, RegionClient};
use serde::Deserialize;

use super::nemesis::Fault;
use crate::cluster::{self, Cluster, ClusterTokens};

/// How long one status call to a node of a deployment may take.
const PROBE_DEADLINE: Duration = Duration::from_secs(5);

/// The target file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    nodes: Vec<NodeEntry>,
    tokens: TokensEntry,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeEntry {
    id: u64,
    api_addr: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensEntry {
    admin: String,
    service: String,
    #[serde(default)]
    warehouses: BTreeMap<String, String>,
}

/// An existing deployment, as its target file describes it (tokens
/// resolved), before any node was asked anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    /// The file it was read from (for the reproduce command).
    pub path: PathBuf,
    /// Every node: its id and API address.
    pub nodes: Vec<(u64, EndpointAddr)>,
    /// The credentials.
    pub tokens: ClusterTokens,
}

impl Deployment {
    /// Reads the target file at `path`, resolving `env:NAME` tokens from
    /// the environment.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read the target file {}", path.display()))?;
        Self::parse(path, &text, &|name| std::env::var(name).ok())
            .with_context(|| format!("bad target file {}", path.display()))
    }

    /// Parses a target file's `text`; `env` looks up environment variables.
    fn parse(path: &Path, text: &str, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let file: TargetFile = toml::from_str(text)?;
        anyhow::ensure!(!file.nodes.is_empty(), "`nodes` lists no node");
        let mut seen = BTreeSet::new();
        let mut nodes = Vec::with_capacity(file.nodes.len());
        for node in file.nodes {
            anyhow::ensure!(seen.insert(node.id), "node id {} is listed twice", node.id);
            let addr = EndpointAddr::parse(&node.api_addr)
                .with_context(|| format!("node {}: bad api_addr `{}`", node.id, node.api_addr))?;
            nodes.push((node.id, addr));
        }
        let secret = |field: &str, value: &str| -> anyhow::Result<String> {
            let token = match value.strip_prefix("env:") {
                Some(name) => {
                    env(name).with_context(|| format!("{field}: environment variable `{name}` is not set"))?
                }
                None => value.to_owned(),
            };
            BearerToken::parse(&token).with_context(|| format!("{field}: not a usable token"))?;
            Ok(token)
        };
        let tokens = ClusterTokens {
            admin: secret("tokens.admin", &file.tokens.admin)?,
            service: secret("tokens.service", &file.tokens.service)?,
            warehouses: file
                .tokens
                .warehouses
                .iter()
                .map(|(warehouse, value)| {
                    Ok((warehouse.clone(), secret(&format!("tokens.warehouses.{warehouse}"), value)?))
                })
                .collect::<anyhow::Result<_>>()?,
        };
        Ok(Self { path: path.to_owned(), nodes, tokens })
    }
}

/// Whether `fault` works through the admin API alone (no process is
/// started or signalled), so it can run against a deployment. Faults not
/// named here are refused there.
pub fn through_admin_api(fault: Fault) -> bool {
    matches!(fault, Fault::None | Fault::MinorityPartition)
}

/// Fails, naming the scenario, when `scenario` needs processes the harness
/// would not own (a deployment target); `Ok` for a launched region.
pub fn check_scenario(scenario: Fault, deployment: Option<&Deployment>) -> anyhow::Result<()> {
    if let Some(deployment) = deployment
        && !through_admin_api(scenario)
    {
        anyhow::bail!(
            "scenario {} kills, pauses or restarts processes, which the harness does not do to a deployment it did not \
             start (--target {}); against a target only these work through the admin API: {}",
            scenario.name(),
            deployment.path.display(),
            Fault::ALL.into_iter().filter(|&f| through_admin_api(f)).map(Fault::name).collect::<Vec<_>>().join(", ")
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
            Self::Launched(cluster) => {
                cluster.nodes().iter().map(|n| n.addrs.id).zip(cluster.api_endpoints(None)).collect()
            }
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
    pub fn processes(&mut self) -> anyhow::Result<&mut Cluster> {
        match self {
            Self::Launched(cluster) => Ok(cluster),
            Self::Existing { deployment, .. } => anyhow::bail!(
                "the region of {} was not started by the harness: no process fault",
                deployment.path.display()
            ),
        }
    }

    /// Stops every launched process; a deployment is left running.
    pub fn shutdown(&mut self) {
        if let Self::Launched(cluster) = self {
            cluster.shutdown();
        }
    }
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
    use super::*;

    const FILE: &str = r#"
        [[nodes]]
        id = 1
        api_addr = "127.0.0.2:7201"
        [[nodes]]
        id = 2
        api_addr = "127.0.0.3:7202"

        [tokens]
        admin = "env:CHAOS_TEST_ADMIN"
        service = "service-token-0123456789"
        [tokens.warehouses]
        wh-1 = "env:CHAOS_TEST_WH"
    "#;

    fn env(name: &str) -> Option<String> {
        match name {
            "CHAOS_TEST_ADMIN" => Some("admin-token-0123456789".into()),
            "CHAOS_TEST_WH" => Some("warehouse-token-0123456789".into()),
            _ => None,
        }
    }

    fn parse(text: &str) -> anyhow::Result<Deployment> {
        Deployment::parse(Path::new("t.toml"), text, &env)
    }

    fn error(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    #[test]
    fn a_target_file_resolves_env_tokens() {
        let deployment = parse(FILE).unwrap();
        let ids: Vec<u64> = deployment.nodes.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(deployment.nodes[1].1, EndpointAddr::parse("127.0.0.3:7202").unwrap());
        assert_eq!(deployment.tokens.admin, "admin-token-0123456789");
        assert_eq!(deployment.tokens.service, "service-token-0123456789");
        assert_eq!(deployment.tokens.warehouses["wh-1"], "warehouse-token-0123456789");
    }

    #[test]
    fn bad_target_files_are_named() {
        let unset = FILE.replace("env:CHAOS_TEST_WH", "env:CHAOS_TEST_UNSET");
        assert!(
            error(&unset).contains("tokens.warehouses.wh-1: environment variable `CHAOS_TEST_UNSET`"),
            "{}",
            error(&unset)
        );
        assert!(error(&FILE.replace("id = 2", "id = 1")).contains("node id 1 is listed twice"));
        assert!(error(&FILE.replace("127.0.0.3:7202", "not an address")).contains("node 2: bad api_addr"));
        assert!(error(&FILE.replace("service-token-0123456789", "has space")).contains("tokens.service"));
        assert!(error(&FILE.replace("[tokens]", "colour = 1\n[tokens]")).contains("colour"));
        let no_nodes = FILE.split("[tokens]").nth(1).map(|t| format!("nodes = []\n[tokens]{t}")).unwrap();
        assert!(error(&no_nodes).contains("no node"), "{}", error(&no_nodes));
    }

    #[test]
    fn only_admin_api_faults_run_against_a_deployment() {
        let deployment = parse(FILE).unwrap();
        for fault in Fault::ALL {
            assert!(check_scenario(fault, None).is_ok(), "a launched region takes every fault");
            let checked = check_scenario(fault, Some(&deployment));
            assert_eq!(checked.is_ok(), through_admin_api(fault), "{}", fault.name());
            if let Err(error) = checked {
                assert!(error.to_string().contains(fault.name()), "{error}");
            }
        }
        assert!(check_scenario(Fault::MinorityPartition, Some(&deployment)).is_ok());
        assert!(check_scenario(Fault::LeaderKill, Some(&deployment)).is_err());
    }
}
