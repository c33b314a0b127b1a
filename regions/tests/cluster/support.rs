//! Starting, stopping and restarting nodes of one region, and a client.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use protos::admin::admin_client::AdminClient;
use protos::admin::{
    AddLearnerRequest, ChangeMembershipRequest, FaultConfig, LinkDirection, LinkRule, SetFaultsRequest,
    TriggerSnapshotRequest, Warehouse,
};
use protos::reservation::{AllocationPolicy, ReserveLine, ReserveRequest, SplitMode};
use protos::warehouse::warehouse_inventory_client::WarehouseInventoryClient;
use protos::warehouse::{AdjustStockRequest, GetLevelsRequest};
use region_client::{BearerToken, ClientConfig, EndpointAddr, RegionClient};
use region_launcher::seed;
use regions::config::{NodeConfig, RaftTimings, TokensConfig};
use regions::node::{RegionNode, StartMode};
use regions::region::Consistency;
use tempfile::TempDir;

pub(crate) const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub(crate) const WAREHOUSE_TOKEN: &str = "test-wh-1-token-0123456789";
pub(crate) const REGION: &str = "eu-west";
/// How long any awaited condition may take.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(15);

/// Nodes of one region by id; stopped ones keep their config (and data dir).
pub(crate) struct Region {
    pub(crate) running: BTreeMap<u64, RegionNode>,
    pub(crate) stopped: BTreeMap<u64, NodeConfig>,
    _dir: TempDir,
    dir: std::path::PathBuf,
    /// The loopback addresses this region's nodes listen on.
    ips: RegionIps,
}

/// A region's loopback addresses: its nodes' Raft listeners on one, their
/// API listeners on the other (a node refuses the same address for both).
#[derive(Clone, Copy)]
struct RegionIps {
    raft: Ipv4Addr,
    api: Ipv4Addr,
}

/// A loopback address of its own for each region a test process starts.
/// The tests of one binary run at once, all with the same tokens, group
/// and node ids: on a shared address, a port a stopped node gave up could
/// be taken by another test's node, and the stopped node's peers and
/// clients would then talk to that other region (seen once in CI: a
/// read there returned another test's stock).
fn region_ips() -> RegionIps {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let (process, region) = (1 + (std::process::id() % 200) as u8, (n % 256) as u8);
    RegionIps { raft: Ipv4Addr::new(127, process, region, 1), api: Ipv4Addr::new(127, process, region, 2) }
}

fn config(dir: &std::path::Path, ips: RegionIps, node_id: u64) -> NodeConfig {
    NodeConfig {
        cluster_id: "cluster-test".into(),
        node_id,
        region: REGION.into(),
        data_dir: dir.join(format!("node{node_id}")),
        raft_addr: SocketAddr::new(ips.raft.into(), 0),
        api_addr: SocketAddr::new(ips.api.into(), 0),
        metrics_addr: None,
        peers: BTreeMap::new(),
        tokens: TokensConfig {
            admin: ADMIN_TOKEN.into(),
            service: None,
            warehouses: BTreeMap::from([("wh-1".into(), WAREHOUSE_TOKEN.into())]),
        },
        raft: RaftTimings::default(),
        deadline_ms: 3_000,
        expire_interval_ms: 200,
        max_batch: 1_024,
        max_in_flight: 8,
        fault_injection: true,
        unsafe_test_mode: None,
    }
}

impl Region {
    /// Node 1 bootstraps alone; nodes 2..=n join and are made voters
    /// through the admin API (add learner, then change membership).
    pub(crate) async fn start(n: u64) -> Region {
        Self::start_with(n, |_| {}).await
    }

    /// As [`Region::start`], with every node's config changed by `tweak`.
    pub(crate) async fn start_with(n: u64, tweak: impl Fn(&mut NodeConfig)) -> Region {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let ips = region_ips();
        let mut region = Region { running: BTreeMap::new(), stopped: BTreeMap::new(), _dir: dir, dir: path, ips };
        for id in 1..=n {
            let mut config = config(&region.dir, ips, id);
            tweak(&mut config);
            region.stopped.insert(id, config);
        }
        region.launch(1, StartMode::Bootstrap).await;
        region.wait_leader().await;
        for id in 2..=n {
            region.add_learner(id).await;
        }
        region.change_voters((1..=n).collect()).await;
        region
    }

    /// Starts node `id` empty (`--join`) and adds it to the group as a
    /// learner through the admin API, waiting until it caught up.
    pub(crate) async fn add_learner(&mut self, id: u64) {
        self.launch(id, StartMode::Join).await;
        let node = &self.running[&id];
        let request = AddLearnerRequest {
            group_id: String::new(),
            node_id: id,
            address: node.raft_addr().to_string(),
            blocking: true,
            api_address: node.api_addr().to_string(),
        };
        self.admin()
            .call("Admin/AddLearner", request, |c, r| async move { AdminClient::new(c).add_learner(r).await })
            .await
            .expect("learner added");
    }

    /// Makes `voters` the group's voters through the admin API; other
    /// members are removed.
    pub(crate) async fn change_voters(&self, voters: Vec<u64>) {
        let request = ChangeMembershipRequest { group_id: String::new(), voter_ids: voters, retain_as_learners: false };
        self.admin()
            .call(
                "Admin/ChangeMembership",
                request,
                |c, r| async move { AdminClient::new(c).change_membership(r).await },
            )
            .await
            .expect("membership changed");
    }

    async fn launch(&mut self, id: u64, mode: StartMode) {
        let config = self.stopped.remove(&id).unwrap_or_else(|| config(&self.dir, self.ips, id));
        let node = RegionNode::start(config, mode).await.expect("node starts");
        self.running.insert(id, node);
    }

    /// Stops node `id` (its data stays) and keeps its addresses for a restart.
    pub(crate) async fn stop(&mut self, id: u64) {
        let node = self.running.remove(&id).expect("running node");
        let mut config = node.config().clone();
        config.raft_addr = node.raft_addr();
        config.api_addr = node.api_addr();
        node.shutdown().await;
        self.stopped.insert(id, config);
    }

    /// A new node's Raft and API addresses on this region's loopback
    /// addresses, ports chosen at bind.
    pub(crate) fn any_addrs(&self) -> (SocketAddr, SocketAddr) {
        (SocketAddr::new(self.ips.raft.into(), 0), SocketAddr::new(self.ips.api.into(), 0))
    }

    /// Restarts a stopped node from its data dir, at its old addresses.
    pub(crate) async fn restart(&mut self, id: u64) {
        self.launch(id, StartMode::Existing).await;
    }

    /// Deletes stopped node `id`'s data dir, as a disk that was lost.
    pub(crate) fn wipe(&mut self, id: u64) {
        let config = self.stopped.remove(&id).expect("a stopped node");
        std::fs::remove_dir_all(&config.data_dir).expect("wipe the data dir");
    }

    /// The current term as running node `id` knows it.
    pub(crate) fn term(&self, id: u64) -> u64 {
        self.running[&id].region().raft().metrics().borrow_watched().current_term
    }

    /// Waits until every running node follows one running leader, and returns it.
    pub(crate) async fn wait_leader(&self) -> u64 {
        let running: Vec<u64> = self.running.keys().copied().collect();
        self.wait_leader_among(&running).await
    }

    /// Waits until one of `ids` leads and the others of `ids` follow it, and returns it.
    pub(crate) async fn wait_leader_among(&self, ids: &[u64]) -> u64 {
        let agreed = async {
            loop {
                let leaders: Vec<Option<u64>> = ids
                    .iter()
                    .map(|id| self.running[id].region().raft().metrics().borrow_watched().current_leader)
                    .collect();
                if let Some(Some(leader)) = leaders.first().copied()
                    && ids.contains(&leader)
                    && leaders.iter().all(|l| *l == Some(leader))
                {
                    return leader;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(TIMEOUT, agreed).await.expect("the nodes agree on a leader among them")
    }

    /// Waits until every running node has applied at least `index`, then
    /// until they all stand at one applied index (the leader's expiry ticks
    /// keep appending), and returns their common state hash there.
    pub(crate) async fn converged(&self, index: u64) -> [u8; 32] {
        let agreed = async {
            loop {
                let mut seen = BTreeMap::new();
                for (id, node) in &self.running {
                    let read = node.region().read(Consistency::Stale, |l| l.state_hash()).await.unwrap();
                    seen.insert(*id, (read.applied_index, read.value));
                }
                let (first_index, first_hash) = *seen.values().next().expect("a running node");
                if first_index >= index && seen.values().all(|(i, _)| *i == first_index) {
                    assert!(
                        seen.values().all(|(_, h)| *h == first_hash),
                        "replicas diverged at {first_index}: {seen:?}"
                    );
                    return first_hash;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(TIMEOUT, agreed).await.expect("the replicas converge")
    }

    /// A client of every running node's API, with `token`.
    pub(crate) fn client(&self, token: &str) -> RegionClient {
        let endpoints = self.running.values().map(|n| EndpointAddr::parse(&n.api_addr().to_string()).unwrap());
        RegionClient::new(endpoints, BearerToken::parse(token).unwrap(), ClientConfig::with_deadline(TIMEOUT)).unwrap()
    }

    /// A client of the API of nodes `ids` only, with `token`.
    pub(crate) fn client_of(&self, ids: &[u64], token: &str) -> RegionClient {
        let endpoints = ids.iter().map(|id| EndpointAddr::parse(&self.running[id].api_addr().to_string()).unwrap());
        RegionClient::new(endpoints, BearerToken::parse(token).unwrap(), ClientConfig::with_deadline(TIMEOUT)).unwrap()
    }

    pub(crate) fn admin(&self) -> RegionClient {
        self.client(ADMIN_TOKEN)
    }

    pub(crate) async fn shutdown(mut self) {
        for id in self.running.keys().copied().collect::<Vec<_>>() {
            self.stop(id).await;
        }
    }
}

/// Registers warehouse `wh-1` (admin).
pub(crate) async fn register_warehouse(client: &RegionClient) {
    let warehouse = Warehouse {
        warehouse_id: "wh-1".into(),
        region: REGION.into(),
        name: "Warehouse 1".into(),
        location: "Paris".into(),
        priority: 1,
    };
    seed::register_warehouse(client, "c-register-wh-1", warehouse).await.expect("warehouse registered");
}

/// A receipt of `quantity` of `sku` at `wh-1` under `command_id`.
pub(crate) fn receipt(command_id: &str, sku: &str, quantity: u64) -> AdjustStockRequest {
    seed::receipt(command_id, "wh-1", sku, quantity, "test receipt")
}

/// A reservation of `quantity` of `sku` as hold `hold_id` (command id
/// `c-<hold_id>`), any warehouse, for `ttl_ms`.
pub(crate) fn hold_request(hold_id: &str, sku: &str, quantity: u64, ttl_ms: u64) -> ReserveRequest {
    ReserveRequest {
        command_id: format!("c-{hold_id}"),
        hold_id: hold_id.into(),
        lines: vec![ReserveLine { sku: sku.into(), quantity }],
        policy: Some(AllocationPolicy { preferred_warehouse_ids: Vec::new(), mode: SplitMode::SplitAllowed as i32 }),
        ttl_ms,
        owner: "shopper-1".into(),
    }
}

/// Receives `quantity` of `sku` at `wh-1` under `command_id`; returns the applied index.
pub(crate) async fn receive(
    client: &RegionClient,
    command_id: &str,
    sku: &str,
    quantity: u64,
) -> Result<u64, region_client::ClientError> {
    seed::adjust_stock(client, receipt(command_id, sku, quantity)).await.map(|response| response.applied_index)
}

/// On-hand units of `sku` at `wh-1`, read linearizably through the leader.
pub(crate) async fn on_hand(client: &RegionClient, sku: &str) -> u64 {
    level(client, sku).await.map_or(0, |level| level.on_hand)
}

/// Available units of `sku` at `wh-1`, read linearizably through the leader.
pub(crate) async fn available(client: &RegionClient, sku: &str) -> u64 {
    level(client, sku).await.map_or(0, |level| level.available)
}

async fn level(client: &RegionClient, sku: &str) -> Option<protos::warehouse::StockLevel> {
    let request = GetLevelsRequest { warehouse_id: "wh-1".into(), skus: vec![sku.into()], page: None, stale: false };
    let levels = client
        .call("WarehouseInventory/GetLevels", request, |c, r| async move {
            WarehouseInventoryClient::new(c).get_levels(r).await
        })
        .await
        .expect("levels");
    levels.levels.into_iter().next()
}

impl Region {
    /// A client pinned to node `id`'s API: one attempt, no leader search.
    pub(crate) async fn at<Req, Resp, F, Fut>(
        &self,
        id: u64,
        token: &str,
        method: &'static str,
        request: Req,
        op: F,
    ) -> Result<Resp, region_client::ClientError>
    where
        Req: Clone,
        F: FnMut(tonic::transport::Channel, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
    {
        let endpoint = EndpointAddr::parse(&self.running[&id].api_addr().to_string()).unwrap();
        self.client(token).call_endpoint(&endpoint, method, request, op).await
    }

    /// Has node `id` build a snapshot (`Admin.TriggerSnapshot`) and waits
    /// until it holds one at or past the index it answered and has purged
    /// its log up to there; that index.
    pub(crate) async fn snapshot_and_purge(&self, id: u64) -> u64 {
        let request = TriggerSnapshotRequest { group_id: String::new() };
        let asked = self
            .at(id, ADMIN_TOKEN, "Admin/TriggerSnapshot", request, |c, r| async move {
                AdminClient::new(c).trigger_snapshot(r).await
            })
            .await
            .expect("snapshot triggered")
            .applied_index;
        self.running[&id]
            .region()
            .raft()
            .wait(Some(TIMEOUT))
            .metrics(
                |m| m.snapshot.is_some_and(|s| s.index >= asked) && m.purged.is_some_and(|p| p.index >= asked),
                "snapshot built and log purged",
            )
            .await
            .expect("the node snapshots and purges");
        asked
    }

    /// Cuts node `id` off from every other node, both ways, through the
    /// admin API's fault injection on every running node.
    pub(crate) async fn isolate(&self, id: u64) {
        for &node in self.running.keys() {
            let peers: Vec<u64> =
                if node == id { self.running.keys().copied().filter(|p| *p != id).collect() } else { vec![id] };
            self.set_links(node, &peers).await;
        }
    }

    /// Removes every fault rule on every running node.
    pub(crate) async fn heal(&self) {
        for &node in self.running.keys() {
            self.set_links(node, &[]).await;
        }
    }

    async fn set_links(&self, node: u64, cut_from: &[u64]) {
        let links = cut_from
            .iter()
            .map(|peer| LinkRule {
                peer_node_id: *peer,
                direction: LinkDirection::Both as i32,
                drop_ppm: 1_000_000,
                delay_ms: 0,
            })
            .collect();
        let request = SetFaultsRequest { faults: Some(FaultConfig { links, seed: 7, ..FaultConfig::default() }) };
        self.at(node, ADMIN_TOKEN, "Admin/SetFaults", request, |c, r| async move {
            AdminClient::new(c).set_faults(r).await
        })
        .await
        .expect("faults set");
    }
}

/// A client that keeps receiving one unit of `apple` at a time, counting
/// what was acknowledged, until stopped: writes that go on while a test
/// changes the group under them.
pub(crate) struct Writer {
    acknowledged: Arc<AtomicU64>,
    running: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    /// Starts writing through `staff` (a warehouse token's client);
    /// `already` units were acknowledged before.
    pub(crate) fn start(staff: &RegionClient, already: u64) -> Writer {
        let acknowledged = Arc::new(AtomicU64::new(already));
        let running = Arc::new(AtomicBool::new(true));
        let task = {
            let (staff, acknowledged, running) = (staff.clone(), Arc::clone(&acknowledged), Arc::clone(&running));
            tokio::spawn(async move {
                let mut i = 0_u64;
                while running.load(Ordering::Relaxed) {
                    i += 1;
                    if receive(&staff, &format!("c-writer-{i}"), "apple", 1).await.is_ok() {
                        acknowledged.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        Writer { acknowledged, running, task }
    }

    /// Stops after the write in flight; the units acknowledged in all.
    pub(crate) async fn stop(self) -> u64 {
        self.running.store(false, Ordering::Relaxed);
        self.task.await.expect("the writer ran");
        self.acknowledged.load(Ordering::Relaxed)
    }
}
