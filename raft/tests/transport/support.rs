//! A cluster of nodes inside the test process: each node has its own
//! RocksDB in a temp dir, its own [`Transport`] (with fault injection
//! enabled) and its own gRPC server on 127.0.0.1, and hosts a replica of
//! each of the cluster's groups.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ledger::command::{AdjustStock, Adjustment, RegisterWarehouse};
use ledger::{Command, Envelope, LedgerConfig};
use openraft::async_runtime::WatchReceiver;
use openraft::{Raft, RaftMetrics, ServerState};
use raft::group_builds::GroupBuilds;
use raft::storage::{IfMissing, LedgerReader, NodeIdentity, StorageConfig};
use raft::transport::{LedgerRaft, ServeError};
use raft::{Faults, GroupId, LedgerBatch, NodeInfo, Storage, Transport, TransportConfig, TypeConfig};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long any awaited condition may take.
pub(crate) const TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));
/// The cluster every test node belongs to.
pub(crate) const CLUSTER: &str = "transport-test";

/// openraft settings for tests: elections slow enough for a loaded 2-core
/// machine, pre-vote on (so it is exercised), room for snapshot transfers.
pub(crate) fn raft_config() -> openraft::Config {
    openraft::Config {
        cluster_name: CLUSTER.into(),
        heartbeat_interval: 100,
        election_timeout_min: 500,
        election_timeout_max: 1_000,
        install_snapshot_timeout: 5_000,
        enable_pre_vote: Some(true),
        ..Default::default()
    }
}

pub(crate) fn group(id: &str) -> GroupId {
    GroupId::new(id).expect("valid group id")
}

/// A group the cluster hosts, with its region.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GroupSpec {
    pub(crate) id: &'static str,
    pub(crate) region: &'static str,
}

/// One replica: the group's Raft on a node and a reader of its ledger.
pub(crate) struct Replica {
    pub(crate) raft: LedgerRaft,
    pub(crate) reader: LedgerReader,
    /// What the node knows of the group's snapshot builds.
    pub(crate) builds: GroupBuilds,
}

/// A running server: its stop switch and its task.
type Server = (oneshot::Sender<()>, JoinHandle<Result<(), ServeError>>);

/// A running node: storage, transport, server and replicas.
pub(crate) struct Node {
    pub(crate) id: u64,
    pub(crate) addr: SocketAddr,
    pub(crate) storage: Storage,
    pub(crate) transport: Transport,
    pub(crate) replicas: BTreeMap<&'static str, Replica>,
    server: Option<Server>,
}

impl Node {
    /// Starts node `id` on `storage`, listening on `addr` (port 0: any).
    async fn start(
        id: u64,
        storage: Storage,
        addr: SocketAddr,
        groups: &[GroupSpec],
        config: &openraft::Config,
    ) -> Node {
        let listener = TcpListener::bind(addr).await.expect("bind the node's listener");
        let addr = listener.local_addr().unwrap();
        let transport = Transport::new(TransportConfig::new(CLUSTER, id), Faults::enabled(id));
        let config = Arc::new(config.clone().validate().expect("valid raft config"));
        let mut replicas = BTreeMap::new();
        for spec in groups {
            let id_of_group = group(spec.id);
            let state_machine =
                storage.state_machine(id_of_group.clone(), LedgerConfig::new(spec.region)).expect("open state machine");
            let reader = state_machine.reader();
            let builds = GroupBuilds::new(state_machine.snapshot_builds());
            let log_store = storage.log_store(id_of_group.clone());
            let network = transport.network(id_of_group.clone(), builds.clone());
            let raft = Raft::new(id, Arc::clone(&config), network, log_store, state_machine).await.expect("start raft");
            transport.registry().register(id_of_group, raft.clone(), builds.clone()).expect("register group");
            replicas.insert(spec.id, Replica { raft, reader, builds });
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = transport.clone();
        let server = tokio::spawn(async move {
            serving
                .serve(listener, async {
                    // Either a stop request or the sender dropped: stop.
                    let _ = stopped.await;
                })
                .await
        });
        Node { id, addr, storage, transport, replicas, server: Some((stop, server)) }
    }

    pub(crate) fn replica(&self, group_id: &str) -> &Replica {
        self.replicas.get(group_id).unwrap_or_else(|| panic!("node {} hosts no {group_id}", self.id))
    }

    pub(crate) fn raft(&self, group_id: &str) -> &LedgerRaft {
        &self.replica(group_id).raft
    }

    pub(crate) fn faults(&self) -> &Faults {
        self.transport.faults()
    }

    pub(crate) fn metrics(&self, group_id: &str) -> RaftMetrics<TypeConfig> {
        self.raft(group_id).metrics().borrow_watched().clone()
    }

    /// Stops serving and shuts `group_id`'s replica down, as a node does
    /// when it stops hosting a group.
    pub(crate) async fn drop_group(&mut self, group_id: &str) {
        let replica = self.replicas.remove(group_id).expect("hosted group");
        self.transport.registry().deregister(&group(group_id)).expect("registered group");
        replica.raft.shutdown().await.expect("raft shuts down");
    }

    /// Shuts every replica down, then the server, as a stopping node does.
    pub(crate) async fn stop(&mut self) {
        let groups: Vec<_> = self.replicas.keys().copied().collect();
        for group_id in groups {
            self.drop_group(group_id).await;
        }
        if let Some((stop, server)) = self.server.take() {
            let _ = stop.send(());
            let stopped = tokio::time::timeout(TIMEOUT.unwrap(), server).await;
            stopped.expect("the server stops once its groups are gone").unwrap().expect("the server ran cleanly");
        }
    }
}

/// Nodes `1..=n`, each hosting every group of the cluster.
pub(crate) struct Cluster {
    pub(crate) nodes: BTreeMap<u64, Node>,
    groups: Vec<GroupSpec>,
    config: openraft::Config,
    _dirs: Vec<TempDir>,
}

impl Cluster {
    pub(crate) async fn start(n: u64, groups: &[GroupSpec], config: openraft::Config) -> Cluster {
        let mut nodes = BTreeMap::new();
        let mut dirs = Vec::new();
        for id in 1..=n {
            let dir = tempfile::tempdir().unwrap();
            let storage = Storage::open(&StorageConfig {
                data_dir: dir.path().to_owned(),
                identity: NodeIdentity { cluster_id: CLUSTER.into(), node_id: id },
                if_missing: IfMissing::Create,
            })
            .expect("open storage");
            dirs.push(dir);
            let node = Node::start(id, storage, "127.0.0.1:0".parse().unwrap(), groups, &config).await;
            nodes.insert(id, node);
        }
        Cluster { nodes, groups: groups.to_vec(), config, _dirs: dirs }
    }

    pub(crate) fn node(&self, id: u64) -> &Node {
        &self.nodes[&id]
    }

    pub(crate) fn node_mut(&mut self, id: u64) -> &mut Node {
        self.nodes.get_mut(&id).expect("node exists")
    }

    pub(crate) fn ids(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    /// Every node as a voter, with its address.
    pub(crate) fn members(&self) -> BTreeMap<u64, NodeInfo> {
        self.nodes
            .values()
            .map(|node| (node.id, NodeInfo { grpc_addr: node.addr.to_string(), ..Default::default() }))
            .collect()
    }

    /// Bootstraps `group_id` with every node as a voter.
    pub(crate) async fn initialize(&self, group_id: &str) {
        let first = self.nodes.values().next().expect("a node");
        first.raft(group_id).initialize(self.members()).await.expect("initialize");
    }

    /// Waits until `ids` all follow one of them as leader of `group_id`, which leads,
    /// and returns it. Leadership may still be moving when this is called
    /// (an election, a hand-over), so it polls the nodes' metrics until
    /// they agree.
    pub(crate) async fn leader_among(&self, group_id: &str, ids: &[u64]) -> u64 {
        let agreed = async {
            loop {
                let leaders: Vec<Option<u64>> =
                    ids.iter().map(|&id| self.node(id).metrics(group_id).current_leader).collect();
                if let Some(Some(leader)) = leaders.first().copied()
                    && ids.contains(&leader)
                    && leaders.iter().all(|l| *l == Some(leader))
                    && self.nodes.get(&leader).is_some_and(|node| node.metrics(group_id).state == ServerState::Leader)
                {
                    return leader;
                }
                // Wake on the next metrics change of the first node, or poll again soon.
                let mut changes = self.node(ids[0]).raft(group_id).metrics();
                let _ = tokio::time::timeout(Duration::from_millis(50), changes.changed()).await;
            }
        };
        tokio::time::timeout(TIMEOUT.unwrap(), agreed).await.expect("the nodes agree on a leader that leads")
    }

    pub(crate) async fn leader(&self, group_id: &str) -> u64 {
        self.leader_among(group_id, &self.ids()).await
    }

    /// Waits until `ids` have applied exactly up to `index`, and returns
    /// their common state hash (asserting they agree).
    pub(crate) async fn converged(&self, group_id: &str, ids: &[u64], index: u64) -> [u8; 32] {
        let mut hashes = BTreeMap::new();
        for &id in ids {
            let node = self.node(id);
            node.raft(group_id).wait(TIMEOUT).applied_index(Some(index), "applied everything").await.unwrap();
            let reader = &node.replica(group_id).reader;
            assert_eq!(reader.last_applied().map(|log_id| log_id.index), Some(index), "node {id}");
            hashes.insert(id, reader.read(|ledger| ledger.state_hash()));
        }
        let first = hashes.values().next().copied().expect("a node");
        assert!(hashes.values().all(|hash| *hash == first), "replicas diverged at index {index}: {hashes:?}");
        first
    }

    /// Stops node `id` (its replicas and its server); its data stays.
    pub(crate) async fn stop(&mut self, id: u64) {
        self.node_mut(id).stop().await;
    }

    /// Restarts a stopped node from its data dir, at its old address.
    pub(crate) async fn restart(&mut self, id: u64) {
        let old = self.nodes.remove(&id).expect("node exists");
        assert!(old.replicas.is_empty(), "stop the node first");
        let node = Node::start(id, old.storage.clone(), old.addr, &self.groups, &self.config).await;
        self.nodes.insert(id, node);
    }

    pub(crate) async fn shutdown(mut self) {
        for id in self.ids() {
            self.stop(id).await;
        }
    }
}

/// Three nodes hosting `spec`, initialized, with warehouse `wh-1`
/// registered and `qty` of `sku` received, applied on every node: the
/// cluster, its leader, and the index of that write.
pub(crate) async fn stocked_trio(spec: GroupSpec, sku: &str, qty: u64) -> (Cluster, u64, u64) {
    let cluster = Cluster::start(3, &[spec], raft_config()).await;
    cluster.initialize(spec.id).await;
    let leader = cluster.leader(spec.id).await;
    let stock =
        vec![envelope("c-register", register("wh-1", spec.region)), envelope("c-receive", receive("wh-1", sku, qty))];
    let index = write(cluster.node(leader).raft(spec.id), stock).await;
    cluster.converged(spec.id, &cluster.ids(), index).await;
    (cluster, leader, index)
}

pub(crate) fn envelope(id: &str, command: Command) -> Envelope {
    Envelope { id: id.into(), now_ms: 1_000, actor: "transport-test".into(), command }
}

pub(crate) fn register(warehouse: &str, region: &str) -> Command {
    Command::RegisterWarehouse(RegisterWarehouse {
        warehouse: warehouse.into(),
        region: region.into(),
        name: warehouse.to_uppercase(),
        location: String::new(),
        priority: 1,
    })
}

pub(crate) fn receive(warehouse: &str, sku: &str, qty: u64) -> Command {
    Command::AdjustStock(AdjustStock {
        warehouse: warehouse.into(),
        sku: sku.into(),
        adjustment: Adjustment::Received { qty },
        expected_on_hand: None,
        reference: format!("receipt-{sku}"),
    })
}

/// Proposes `envelopes` as one entry at `raft` (a leader) and returns the
/// entry's log index once it is committed and applied there; every command
/// must succeed.
pub(crate) async fn write(raft: &LedgerRaft, envelopes: Vec<Envelope>) -> u64 {
    let count = envelopes.len();
    let written = write_when_writable(raft, LedgerBatch { envelopes: envelopes.into() }).await;
    let results = written.data.results;
    assert_eq!(results.len(), count);
    assert!(results.iter().all(|r| r.result.is_ok() && !r.replayed), "{results:?}");
    written.log_id.index
}

/// Proposes `batch` at `raft`, a leader, once it may take writes: a new
/// leader refuses them (`LeaseExpired`) until a quorum has acknowledged it.
async fn write_when_writable(raft: &LedgerRaft, batch: LedgerBatch) -> openraft::raft::ClientWriteResponse<TypeConfig> {
    let deadline = tokio::time::Instant::now() + TIMEOUT.expect("a timeout");
    loop {
        match raft.client_write(batch.clone()).await {
            Err(openraft::errors::RaftError::APIError(openraft::errors::ClientWriteError::ForwardToLeader(
                forward,
            ))) if forward.reason == openraft::errors::ForwardReason::LeaseExpired
                && tokio::time::Instant::now() < deadline =>
            {
                raft.wait(TIMEOUT)
                    .metrics(|m| m.last_quorum_acked.is_some(), "a quorum acknowledged the leader")
                    .await
                    .ok();
                tokio::task::yield_now().await;
            }
            written => return written.expect("committed and applied"),
        }
    }
}

/// On-hand units of `sku` in `warehouse`, as the replica has applied them.
pub(crate) fn on_hand(reader: &LedgerReader, warehouse: &str, sku: &str) -> Option<u64> {
    reader.read(|ledger| ledger.levels_of(&sku.into())?.get(&warehouse.into()).map(|level| level.on_hand))
}
