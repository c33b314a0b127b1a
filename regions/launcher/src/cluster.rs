//! [`Cluster`]: one region's replicas as real `regiond` processes on
//! loopback addresses (all on 127.0.0.1, or each node on its own
//! 127.0.0.x: [`Ports`]), launched from generated configs, for the
//! benchmark and the chaos harness.
//!
//! The launcher writes one TOML config per node (fresh ports, fresh
//! tokens), starts every node with `--bootstrap`, and waits for a leader
//! through the admin API. It can stop, kill (SIGKILL, a crash), pause
//! (SIGSTOP) and restart single nodes, add a node (`--join`, under a
//! fresh id) or forget a removed one, and rebuild a stopped node from its
//! peers under a fresh id (`regiond rebuild`), so [`Cluster::nodes`]
//! follows the group's membership. Dropping the cluster stops every process it started,
//! by pid: SIGTERM to all (SIGCONT too for paused ones), then SIGKILL to any
//! still running after [`crate::process::STOP_GRACE`].
//!
//! **Invariant:** the cluster signals only the processes it spawned.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use protos::admin::admin_client::AdminClient;
use protos::admin::{ClusterStatusRequest, GroupStatus};
use region_client::{BearerToken, ClientConfig, EndpointAddr, RegionClient};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::process::{STOP_GRACE, StopSignal, Supervised, free_ports, free_ports_on, log_tail, random_hex};

/// Most replicas a launched region may have (openraft groups are 3 or 5;
/// 7 leaves room for membership-change tests).
pub const REPLICAS_MAX: u64 = 7;

/// Largest metrics page read, in bytes.
const METRICS_BYTES_MAX: usize = 4 << 20;

/// Why a cluster could not be launched or driven.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The `regiond` executable is not where it was looked for.
    #[error(
        "no regiond executable at {}; build it next to this program with \
         `cargo build --release -p regions`",
        .0.display()
    )]
    MissingRegiond(PathBuf),
    /// The spec cannot describe a region.
    #[error("invalid cluster spec: {0}")]
    Spec(String),
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A node exited on its own.
    #[error("{name} exited ({status}); the end of its log ({}):\n{log_tail}", .log.display())]
    Exited {
        /// Which node.
        name: String,
        /// How it ended.
        status: ExitStatus,
        /// Its log file.
        log: PathBuf,
        /// The end of that log.
        log_tail: String,
    },
    /// Something did not happen in time.
    #[error("{0}")]
    Timeout(String),
    /// A client could not be built.
    #[error("client: {0}")]
    Client(String),
    /// A metrics page could not be fetched.
    #[error("metrics of node {node}: {reason}")]
    Metrics {
        /// The node asked.
        node: u64,
        /// What went wrong.
        reason: String,
    },
}

fn not_running(id: u64) -> ClusterError {
    ClusterError::Spec(format!("node {id} is not running"))
}

/// Writes node `addrs.id`'s directory and config (with `all` its peers) and
/// returns it, not started.
fn write_node(spec: &ClusterSpec, addrs: &NodeAddrs, all: &[NodeAddrs]) -> Result<Node, ClusterError> {
    let node_dir = spec.dir.join(format!("node{}", addrs.id));
    std::fs::create_dir_all(&node_dir).map_err(io(format!("cannot create {}", node_dir.display())))?;
    let config = node_dir.join("regiond.toml");
    std::fs::write(&config, node_config(spec, addrs, all)).map_err(io(format!("cannot write {}", config.display())))?;
    let (data_dir, log) = (data_dir(spec, addrs.id), node_dir.join("regiond.log"));
    Ok(Node { addrs: addrs.clone(), config, data_dir, log, process: None })
}

/// The data dir of node `id` as first written into its config (a node
/// rebuilt under a new id keeps its config, so its old dir name).
fn data_dir(spec: &ClusterSpec, id: u64) -> PathBuf {
    spec.dir.join(format!("node{id}")).join("data")
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

/// The bearer tokens a cluster accepts: generated per launch (32 hex
/// characters each, above regiond's 16-character minimum), or kept in a
/// file by a deployment that restarts (`regiond dev`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterTokens {
    /// Operators: the admin API and every other call.
    pub admin: String,
    /// The gateway's token (reservations and the rest of `reservation.proto`).
    pub service: String,
    /// One token per warehouse id.
    pub warehouses: BTreeMap<String, String>,
}

impl ClusterTokens {
    /// Fresh random tokens, one for each of `warehouses` too.
    pub fn generate<'a>(warehouses: impl IntoIterator<Item = &'a str>) -> std::io::Result<Self> {
        Ok(Self {
            admin: random_hex(16)?,
            service: random_hex(16)?,
            warehouses: warehouses
                .into_iter()
                .map(|warehouse| Ok((warehouse.to_owned(), random_hex(16)?)))
                .collect::<std::io::Result<_>>()?,
        })
    }
}

/// Node settings that differ from regiond's defaults; `None` keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeTuning {
    /// `deadline_ms`: how long a write waits for a quorum.
    pub deadline_ms: Option<u64>,
    /// `max_batch`: most commands per Raft entry.
    pub max_batch: Option<usize>,
    /// `max_in_flight`: most Raft entries proposed and not yet applied.
    pub max_in_flight: Option<usize>,
    /// `fault_injection`: enables the `SetFaults` admin API (chaos only).
    pub fault_injection: bool,
    /// `unsafe_test_mode = "ack-before-commit"`: the leader acknowledges
    /// before replicating. Only regiond's own test builds accept it; it
    /// exists to show the chaos checkers catch lost acknowledgements.
    pub unsafe_ack_before_commit: bool,
    /// `raft.logs_kept_after_snapshot`: log entries kept behind a snapshot.
    /// Small values make a lagging or new replica catch up by a snapshot
    /// (the chaos harness's crash-during-snapshot fault needs that).
    pub logs_kept_after_snapshot: Option<u64>,
    /// `raft.snapshot_every`: applied entries between a replica's own
    /// snapshots. Small values make snapshots, and a leader's hand-over
    /// before each of its own, happen within a short run.
    pub snapshot_every: Option<u64>,
}

/// What to launch.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// The `regiond` executable.
    pub regiond: PathBuf,
    /// Where configs, data dirs and logs go (one `node<N>` set per node);
    /// must exist. The caller owns it (e.g. a temporary directory).
    pub dir: PathBuf,
    /// The cluster's name (stamped into every data dir).
    pub cluster_id: String,
    /// The region; the group is `region/<region>`.
    pub region: String,
    /// How many voters (node ids `1..=replicas`).
    pub replicas: u64,
    /// Accepted tokens.
    pub tokens: ClusterTokens,
    /// Settings other than the defaults.
    pub tuning: NodeTuning,
    /// Which ports the nodes listen on.
    pub ports: Ports,
}

/// Where a cluster's listeners go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ports {
    /// Free ports picked at launch: for tests, benchmarks and chaos runs.
    Free,
    /// Fixed ports from this one on: node `n` listens on `base + n` (Raft),
    /// `base + 100 + n` (API) and `base + 200 + n` (metrics), so a
    /// deployment restarts at the same addresses (its peers recorded them).
    From(u16),
    /// Each node on its own loopback address, `127.0.0.<1 + id>` (past 254
    /// the count carries into the third octet: node 255 is on 127.0.1.0,
    /// all of 127.0.0.0/8 being loopback on Linux), on free ports there:
    /// what the chaos harness uses, so every node is told apart by its
    /// address as on a real network, however many nodes membership changes
    /// add.
    OwnLoopback,
}

/// Largest node id [`Ports::OwnLoopback`] can place (`127.255.255.254`).
pub const OWN_LOOPBACK_ID_MAX: u64 = (1 << 24) - 3;

impl Ports {
    /// The IP address node `id` listens on.
    pub fn ip(self, id: u64) -> std::io::Result<Ipv4Addr> {
        match self {
            Self::Free | Self::From(_) => Ok(Ipv4Addr::LOCALHOST),
            Self::OwnLoopback => match u32::try_from(id.saturating_add(1)) {
                Ok(offset) if id <= OWN_LOOPBACK_ID_MAX => {
                    Ok(Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 0)) + offset))
                }
                _ => Err(std::io::Error::other(format!(
                    "node id {id} has no loopback address of its own (ids 1 to {OWN_LOOPBACK_ID_MAX})"
                ))),
            },
        }
    }
}

/// One node's addresses and files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAddrs {
    /// Raft node id.
    pub id: u64,
    /// Node-to-node listener.
    pub raft: SocketAddr,
    /// Client-facing gRPC listener.
    pub api: SocketAddr,
    /// `GET /metrics` listener.
    pub metrics: SocketAddr,
}

/// A node of a running cluster.
#[derive(Debug)]
pub struct Node {
    /// Its addresses.
    pub addrs: NodeAddrs,
    /// Its config file.
    pub config: PathBuf,
    /// Its RocksDB directory, as its config names it.
    pub data_dir: PathBuf,
    /// Its log file (stdout and stderr, appended across restarts).
    pub log: PathBuf,
    /// The running process; `None` while stopped or killed.
    process: Option<Supervised>,
}

impl Node {
    /// Whether its process was started and has not been stopped or killed
    /// through the cluster (it may still have exited on its own).
    pub fn is_started(&self) -> bool {
        self.process.is_some()
    }

    /// Its pid while started.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Supervised::pid)
    }
}

/// How a node's process is started.
#[derive(Debug)]
enum Launch {
    /// On its existing data dir (a restart).
    Existing,
    /// `--bootstrap`: a first start of an initial member.
    Bootstrap,
    /// `--join`: a first start of a member added later.
    Join,
    /// `regiond rebuild` of node `old` from its peers (`via`, API
    /// addresses), under the node's (new) id.
    Rebuild {
        /// The id it replaces.
        old: u64,
        /// Live members' API addresses to ask.
        via: Vec<String>,
    },
}

/// A running region of `regiond` processes. Dropping it stops them all.
#[derive(Debug)]
pub struct Cluster {
    spec: ClusterSpec,
    /// The current members, by id order: initial ones, then added ones;
    /// removed ones are dropped.
    nodes: Vec<Node>,
    /// The id the next added node gets: above every id ever used, since a
    /// group never reuses a removed node's id.
    next_id: u64,
}

/// The subset of regiond's `NodeConfig` (regions/src/config.rs) the
/// launcher sets, serialized as its TOML file.
#[derive(Debug, Serialize)]
struct NodeConfigFile<'a> {
    cluster_id: &'a str,
    node_id: u64,
    region: &'a str,
    data_dir: PathBuf,
    raft_addr: String,
    api_addr: String,
    metrics_addr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    deadline_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_batch: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_in_flight: Option<usize>,
    fault_injection: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    unsafe_test_mode: Option<&'static str>,
    /// By node id (TOML keys are strings; regiond reads them as numbers).
    peers: BTreeMap<String, PeerFile>,
    tokens: TokensFile<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raft: Option<RaftFile>,
}

#[derive(Debug, Serialize)]
struct RaftFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    logs_kept_after_snapshot: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshot_every: Option<u64>,
}

#[derive(Debug, Serialize)]
struct PeerFile {
    raft_addr: String,
    api_addr: String,
}

#[derive(Debug, Serialize)]
struct TokensFile<'a> {
    admin: &'a str,
    service: &'a str,
    warehouses: &'a BTreeMap<String, String>,
}

/// The TOML config of node `addrs.id` of the region `spec` describes, with
/// `all` the addresses of every initial member.
pub fn node_config(spec: &ClusterSpec, addrs: &NodeAddrs, all: &[NodeAddrs]) -> String {
    let file = NodeConfigFile {
        cluster_id: &spec.cluster_id,
        node_id: addrs.id,
        region: &spec.region,
        data_dir: data_dir(spec, addrs.id),
        raft_addr: addrs.raft.to_string(),
        api_addr: addrs.api.to_string(),
        metrics_addr: addrs.metrics.to_string(),
        deadline_ms: spec.tuning.deadline_ms,
        max_batch: spec.tuning.max_batch,
        max_in_flight: spec.tuning.max_in_flight,
        fault_injection: spec.tuning.fault_injection,
        unsafe_test_mode: spec.tuning.unsafe_ack_before_commit.then_some("ack-before-commit"),
        peers: all
            .iter()
            .map(|peer| {
                (peer.id.to_string(), PeerFile { raft_addr: peer.raft.to_string(), api_addr: peer.api.to_string() })
            })
            .collect(),
        tokens: TokensFile {
            admin: &spec.tokens.admin,
            service: &spec.tokens.service,
            warehouses: &spec.tokens.warehouses,
        },
        raft: (spec.tuning.logs_kept_after_snapshot.is_some() || spec.tuning.snapshot_every.is_some()).then_some(
            RaftFile {
                logs_kept_after_snapshot: spec.tuning.logs_kept_after_snapshot,
                snapshot_every: spec.tuning.snapshot_every,
            },
        ),
    };
    toml::to_string(&file).expect("a config of strings, numbers and tables always serializes")
}

/// Addresses for nodes `1..=replicas`, as `ports` says.
pub fn allocate_addrs(replicas: u64, ports: Ports) -> std::io::Result<Vec<NodeAddrs>> {
    if let Ports::Free = ports {
        // One batch, so no two nodes are handed the same free port.
        let count = usize::try_from(replicas).unwrap_or(usize::MAX).saturating_mul(3);
        let numbers = free_ports(count)?;
        let addr = |port: u16| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        return Ok((1..=replicas)
            .zip(numbers.chunks_exact(3))
            .map(|(id, p)| NodeAddrs { id, raft: addr(p[0]), api: addr(p[1]), metrics: addr(p[2]) })
            .collect());
    }
    (1..=replicas).map(|id| node_addrs(id, ports)).collect()
}

/// The addresses of node `id` alone, as `ports` says (free ports are free
/// at the time of the call, distinct from one another).
pub fn node_addrs(id: u64, ports: Ports) -> std::io::Result<NodeAddrs> {
    let ip = ports.ip(id)?;
    let numbers = match ports {
        Ports::Free | Ports::OwnLoopback => free_ports_on(ip, 3)?,
        Ports::From(base) => {
            let id = u16::try_from(id).unwrap_or(u16::MAX);
            vec![base.saturating_add(id), base.saturating_add(100 + id), base.saturating_add(200 + id)]
        }
    };
    let addr = |port: u16| SocketAddr::from((ip, port));
    Ok(NodeAddrs { id, raft: addr(numbers[0]), api: addr(numbers[1]), metrics: addr(numbers[2]) })
}

impl Cluster {
    /// Writes every node's config and starts every node with `--bootstrap`.
    /// Returns once the processes are spawned; see
    /// [`Cluster::wait_for_leader`].
    pub fn launch(spec: ClusterSpec) -> Result<Self, ClusterError> {
        if !spec.regiond.is_file() {
            return Err(ClusterError::MissingRegiond(spec.regiond.clone()));
        }
        if spec.replicas == 0 || spec.replicas > REPLICAS_MAX {
            return Err(ClusterError::Spec(format!("replicas must be 1 to {REPLICAS_MAX}, got {}", spec.replicas)));
        }
        let all = allocate_addrs(spec.replicas, spec.ports).map_err(io("cannot find free ports"))?;
        let nodes = all.iter().map(|addrs| write_node(&spec, addrs, &all)).collect::<Result<Vec<_>, _>>()?;
        let next_id = spec.replicas.saturating_add(1);
        let mut cluster = Self { spec, nodes, next_id };
        for id in 1..=cluster.spec.replicas {
            cluster.start_node(id, true)?;
        }
        Ok(cluster)
    }

    /// Adds a node under a fresh id (above every id used before), on
    /// addresses as the spec's [`Ports`] say, and starts it empty with
    /// `--join`: it serves and waits for the leader to add it (the caller
    /// then sends `Admin.AddLearner` and `Admin.ChangeMembership`). Returns
    /// its id.
    pub fn add_node(&mut self) -> Result<u64, ClusterError> {
        let members = u64::try_from(self.nodes.len()).unwrap_or(u64::MAX);
        if members >= REPLICAS_MAX {
            return Err(ClusterError::Spec(format!("a region has at most {REPLICAS_MAX} members; remove one first")));
        }
        let id = self.next_id;
        let addrs = node_addrs(id, self.spec.ports).map_err(io(format!("cannot find addresses for node {id}")))?;
        let mut all: Vec<NodeAddrs> = self.nodes.iter().map(|n| n.addrs.clone()).collect();
        all.push(addrs.clone());
        let node = write_node(&self.spec, &addrs, &all)?;
        self.next_id = id.saturating_add(1);
        self.nodes.push(node);
        self.spawn(id, &Launch::Join)?;
        Ok(id)
    }

    /// Rebuilds stopped node `id` from its peers under a fresh id (above
    /// every id used before, as [`Cluster::add_node`] picks them): runs
    /// `regiond rebuild --config <its config> --new-node-id <fresh>` with
    /// `--via` every other member's API address, as its supervised process.
    /// That process moves the old data dir aside, starts empty on the same
    /// addresses, joins as a learner, catches up, replaces `id` among the
    /// voters, rewrites the config's `node_id`, and keeps serving. The node
    /// is listed under the new id from now on (the caller waits for the
    /// group to show it a voter). Returns the new id.
    pub fn rebuild_node(&mut self, id: u64) -> Result<u64, ClusterError> {
        if self.node(id)?.is_started() {
            return Err(ClusterError::Spec(format!("node {id} is running; stop it before rebuilding it")));
        }
        let new = self.next_id;
        let via = self.nodes.iter().filter(|n| n.addrs.id != id).map(|n| n.addrs.api.to_string()).collect();
        let mut node = self.nodes.remove(self.nodes.iter().position(|n| n.addrs.id == id).unwrap_or_default());
        node.addrs.id = new;
        // Ids grow, so the new one goes last and the list stays in id order.
        self.nodes.push(node);
        self.next_id = new.saturating_add(1);
        self.spawn(new, &Launch::Rebuild { old: id, via })?;
        Ok(new)
    }

    /// Forgets node `id` after the group removed it: stops its process
    /// cleanly if it runs (its files stay) and drops it from
    /// [`Cluster::nodes`]. Its id is never handed out again.
    pub fn remove_node(&mut self, id: u64) -> Result<Option<ExitStatus>, ClusterError> {
        let status = self.stop_node(id)?;
        self.nodes.retain(|n| n.addrs.id != id);
        Ok(status)
    }

    /// The spec it was launched from.
    pub fn spec(&self) -> &ClusterSpec {
        &self.spec
    }

    /// Every node, by id order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node with id `id`.
    pub fn node(&self, id: u64) -> Result<&Node, ClusterError> {
        self.nodes.iter().find(|n| n.addrs.id == id).ok_or_else(|| ClusterError::Spec(format!("no node {id}")))
    }

    fn node_mut(&mut self, id: u64) -> Result<&mut Node, ClusterError> {
        self.nodes.iter_mut().find(|n| n.addrs.id == id).ok_or_else(|| ClusterError::Spec(format!("no node {id}")))
    }

    /// Starts node `id` (if not running): with `--bootstrap` for a first
    /// start, without for a restart on its existing data.
    pub fn start_node(&mut self, id: u64, bootstrap: bool) -> Result<(), ClusterError> {
        self.spawn(id, if bootstrap { &Launch::Bootstrap } else { &Launch::Existing })
    }

    /// Starts node `id`'s process (if not running) as `launch` says.
    fn spawn(&mut self, id: u64, launch: &Launch) -> Result<(), ClusterError> {
        let regiond = self.spec.regiond.clone();
        let node = self.node_mut(id)?;
        if node.process.is_some() {
            return Ok(());
        }
        let mut command = Command::new(&regiond);
        command.env("RUST_LOG", "info,openraft=warn");
        match launch {
            Launch::Existing => command.arg("--config").arg(&node.config),
            Launch::Bootstrap => command.arg("--config").arg(&node.config).arg("--bootstrap"),
            Launch::Join => command.arg("--config").arg(&node.config).arg("--join"),
            Launch::Rebuild { via, .. } => {
                command.arg("rebuild").arg("--config").arg(&node.config).arg("--new-node-id").arg(id.to_string());
                via.iter().fold(&mut command, |command, addr| command.arg("--via").arg(addr))
            }
        };
        let name = match launch {
            Launch::Rebuild { old, .. } => format!("regiond node {id} (rebuilding node {old})"),
            _ => format!("regiond node {id}"),
        };
        let process = Supervised::spawn(&name, &mut command, &node.log, StopSignal::Term)
            .map_err(io(format!("cannot start {}", regiond.display())))?;
        tracing::debug!(node = id, pid = process.pid(), "started regiond");
        node.process = Some(process);
        Ok(())
    }

    /// Stops node `id` cleanly (SIGTERM, SIGKILL after the grace period).
    pub fn stop_node(&mut self, id: u64) -> Result<Option<ExitStatus>, ClusterError> {
        Ok(self.node_mut(id)?.process.take().and_then(|mut p| p.stop(STOP_GRACE)))
    }

    /// Kills node `id` at once (SIGKILL): a crash.
    pub fn kill_node(&mut self, id: u64) -> Result<Option<ExitStatus>, ClusterError> {
        Ok(self.node_mut(id)?.process.take().and_then(|mut p| p.kill()))
    }

    /// If node `id`'s process has exited on its own (e.g. it stopped on a
    /// storage failure), forgets it, so [`Cluster::start_node`] starts it
    /// again, and returns how it ended; `None` while it runs or when it
    /// was not started.
    pub fn take_exited(&mut self, id: u64) -> Result<Option<ExitStatus>, ClusterError> {
        let node = self.node_mut(id)?;
        let status = node.process.as_mut().and_then(Supervised::exited);
        if status.is_some() {
            node.process = None;
        }
        Ok(status)
    }

    /// Suspends node `id`'s process (SIGSTOP). Fails if it is not running.
    pub fn pause_node(&mut self, id: u64) -> Result<(), ClusterError> {
        let process = self.node_mut(id)?.process.as_mut().ok_or_else(|| not_running(id))?;
        if process.pause() { Ok(()) } else { Err(not_running(id)) }
    }

    /// Continues node `id`'s process if it is paused (SIGCONT); a no-op
    /// otherwise, so healing may call it on every node.
    pub fn resume_node(&mut self, id: u64) -> Result<(), ClusterError> {
        if let Some(process) = self.node_mut(id)?.process.as_mut().filter(|p| p.is_paused()) {
            process.resume();
        }
        Ok(())
    }

    /// Fails if a started node has exited on its own, with the end of its log.
    pub fn check_running(&mut self) -> Result<(), ClusterError> {
        for node in &mut self.nodes {
            if let Some(process) = &mut node.process
                && let Some(status) = process.exited()
            {
                return Err(ClusterError::Exited {
                    name: process.name().to_owned(),
                    status,
                    log: node.log.clone(),
                    log_tail: log_tail(&node.log),
                });
            }
        }
        Ok(())
    }

    /// The client-facing addresses of the nodes, `first` (if any) first.
    pub fn api_endpoints(&self, first: Option<u64>) -> Vec<EndpointAddr> {
        let mut nodes: Vec<&Node> = self.nodes.iter().collect();
        nodes.sort_by_key(|n| Some(n.addrs.id) != first);
        nodes
            .iter()
            .map(|n| EndpointAddr::parse(&n.addrs.api.to_string()).expect("a socket address is host:port"))
            .collect()
    }

    /// A leader-aware client of the region with `token`, asking `first`
    /// (e.g. the known leader) first. Each client has its own connections.
    pub fn client(&self, token: &str, first: Option<u64>, config: ClientConfig) -> Result<RegionClient, ClusterError> {
        let token = BearerToken::parse(token).map_err(|e| ClusterError::Client(e.to_string()))?;
        RegionClient::new(self.api_endpoints(first), token, config).map_err(|e| ClusterError::Client(e.to_string()))
    }

    /// Waits until a node names the group's leader and that leader agrees
    /// it leads; returns its id. Fails early if a node exits.
    pub async fn wait_for_leader(&mut self, timeout: Duration) -> Result<u64, ClusterError> {
        let deadline = Instant::now() + timeout;
        let admin = self.client(&self.spec.tokens.admin, None, ClientConfig::with_deadline(Duration::from_secs(2)))?;
        loop {
            self.check_running()?;
            let nodes: Vec<(u64, EndpointAddr)> =
                self.nodes.iter().map(|n| n.addrs.id).zip(self.api_endpoints(None)).collect();
            if let Some(leader) = agreed_leader(&admin, &nodes).await {
                return Ok(leader);
            }
            if Instant::now() > deadline {
                return Err(ClusterError::Timeout(format!(
                    "region {} elected no leader within {timeout:?}; logs under {}",
                    self.spec.region,
                    self.spec.dir.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Node `id`'s Prometheus metrics page, as text.
    pub async fn metrics(&self, id: u64) -> Result<String, ClusterError> {
        metrics_page(self.node(id)?.addrs.metrics).await.map_err(|reason| ClusterError::Metrics { node: id, reason })
    }

    /// Stops every node: SIGTERM to all at once, then waits for each and
    /// SIGKILLs any still running after the grace period.
    pub fn shutdown(&mut self) {
        let mut running: Vec<Supervised> = self.nodes.iter_mut().filter_map(|n| n.process.take()).collect();
        for process in &mut running {
            process.request_stop();
        }
        let deadline = Instant::now() + STOP_GRACE;
        for process in &mut running {
            process.wait_stopped(deadline);
        }
    }

    /// Where the cluster's files are.
    pub fn dir(&self) -> &Path {
        &self.spec.dir
    }
}

/// The group's leader as named by any of `nodes` (node id, API address)
/// and confirmed by the leader itself; `None` while there is none. Serves
/// deployments the launcher did not start too (the chaos harness'
/// `--target`).
pub async fn agreed_leader(admin: &RegionClient, nodes: &[(u64, EndpointAddr)]) -> Option<u64> {
    for (_, endpoint) in nodes {
        let Some(named) = group_status(admin, endpoint).await.and_then(|g| g.leader_id) else { continue };
        let (_, leader_endpoint) = nodes.iter().find(|(id, _)| *id == named)?;
        let confirmed = group_status(admin, leader_endpoint).await?;
        return (confirmed.leader_id == Some(named) && confirmed.node_id == named).then_some(named);
    }
    None
}

/// The first group's status as the node at `endpoint` reports it.
async fn group_status(admin: &RegionClient, endpoint: &EndpointAddr) -> Option<GroupStatus> {
    admin
        .call_endpoint(endpoint, "Admin/ClusterStatus", ClusterStatusRequest::default(), |channel, r| async {
            AdminClient::new(channel).cluster_status(r).await
        })
        .await
        .ok()
        .and_then(|s| s.groups.into_iter().next())
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The Prometheus metrics page served at `addr` (a node's `metrics_addr`),
/// as text; fails after 5 s.
pub async fn metrics_page(addr: SocketAddr) -> Result<String, String> {
    tokio::time::timeout(Duration::from_secs(5), http_get(addr, "/metrics"))
        .await
        .map_err(|_| format!("no answer from {addr} within 5 s"))?
}

/// A plain HTTP/1.1 GET of `path` from `addr`; the body on a 200.
async fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream.take(METRICS_BYTES_MAX as u64).read_to_end(&mut response).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP header end")?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        return Err(format!("answered `{status}`"));
    }
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return Ok(dechunk(body));
    }
    Ok(body.to_owned())
}

/// The payload of a chunked HTTP body (best effort: stops at a malformed
/// chunk).
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size_line, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16) else { break };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].strip_prefix("\r\n").unwrap_or(&after[size..]);
    }
    out
}

/// The sum and count of a Prometheus histogram `name` in a metrics page,
/// added over every label set.
pub fn histogram_sum_count(page: &str, name: &str) -> (f64, f64) {
    let value = |suffix: &str| -> f64 {
        let series = format!("{name}_{suffix}");
        page.lines()
            .filter(|line| {
                line.strip_prefix(&series).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    (value("sum"), value("count"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ClusterSpec {
        ClusterSpec {
            regiond: PathBuf::from("/nonexistent/regiond"),
            dir: PathBuf::from("/tmp/bench \"quoted\" dir"),
            cluster_id: "bench-1".into(),
            region: "bench".into(),
            replicas: 3,
            tokens: ClusterTokens::generate(["wh-bench"]).unwrap(),
            tuning: NodeTuning { deadline_ms: Some(7_000), ..NodeTuning::default() },
            ports: Ports::Free,
        }
    }

    #[test]
    fn tokens_are_fresh_per_launch() {
        let (a, b) = (ClusterTokens::generate(["wh"]).unwrap(), ClusterTokens::generate(["wh"]).unwrap());
        assert_ne!(a, b);
        assert!(a.admin.len() >= 16 && a.service.len() >= 16 && a.warehouses["wh"].len() >= 16);
        assert_ne!(a.admin, a.service);
    }

    #[test]
    fn a_missing_regiond_is_named_with_the_build_command() {
        let error = Cluster::launch(spec()).unwrap_err().to_string();
        assert!(error.contains("/nonexistent/regiond"), "{error}");
        assert!(error.contains("cargo build --release -p regions"), "{error}");
    }

    #[test]
    fn endpoints_put_the_chosen_node_first() {
        let nodes = allocate_addrs(3, Ports::Free)
            .unwrap()
            .into_iter()
            .map(|addrs| Node {
                addrs,
                config: PathBuf::new(),
                data_dir: PathBuf::new(),
                log: PathBuf::new(),
                process: None,
            })
            .collect();
        let cluster = Cluster { spec: spec(), nodes, next_id: 4 };
        let api = |i: usize| cluster.nodes[i].addrs.api.to_string();
        let order = |first| cluster.api_endpoints(first).iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(order(Some(2)), [api(1), api(0), api(2)]);
        assert_eq!(order(None), [api(0), api(1), api(2)]);
    }

    /// A stand-in for regiond: records its arguments in its node's
    /// directory (its config's), exits with 3 if that directory holds a
    /// file `exit`, else sleeps.
    const FAKE_REGIOND: &str = r#"#!/bin/sh
for arg; do [ "$prev" = --config ] && dir=$(dirname "$arg"); prev=$arg; done
echo "$@" >> "$dir/args"
[ -e "$dir/exit" ] && exit 3
exec sleep 30
"#;

    fn fake_cluster(dir: &Path) -> Cluster {
        use std::os::unix::fs::PermissionsExt as _;
        let regiond = dir.join("regiond");
        std::fs::write(&regiond, FAKE_REGIOND).unwrap();
        std::fs::set_permissions(&regiond, std::fs::Permissions::from_mode(0o755)).unwrap();
        Cluster::launch(ClusterSpec { regiond, dir: dir.to_owned(), ports: Ports::OwnLoopback, ..spec() }).unwrap()
    }

    fn args(dir: &Path, id: u64) -> String {
        args_until(dir, id, |args| !args.is_empty())
    }

    /// The arguments recorded in node `id`'s directory once they satisfy
    /// `done` (or after 10 s, as they are then).
    fn args_until(dir: &Path, id: u64, done: impl Fn(&str) -> bool) -> String {
        let path = dir.join(format!("node{id}")).join("args");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let args = std::fs::read_to_string(&path).unwrap_or_default();
            if done(&args) || Instant::now() > deadline {
                return args;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn added_nodes_join_under_fresh_ids_and_removed_ones_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let mut cluster = fake_cluster(dir.path());
        assert!(args(dir.path(), 1).contains("--bootstrap"));
        assert_eq!(cluster.add_node().unwrap(), 4);
        assert!(args(dir.path(), 4).trim_end().ends_with("--join"), "{}", args(dir.path(), 4));
        let config = std::fs::read_to_string(&cluster.node(4).unwrap().config).unwrap();
        assert!(config.contains("node_id = 4") && config.contains("[peers.1]") && config.contains("[peers.4]"));
        assert!(config.contains("127.0.0.5:"), "node 4 on its own address: {config}");
        cluster.remove_node(2).unwrap();
        let ids: Vec<u64> = cluster.nodes().iter().map(|n| n.addrs.id).collect();
        assert_eq!(ids, [1, 3, 4]);
        assert_eq!(cluster.add_node().unwrap(), 5, "a removed node's id is never reused");
        assert!(cluster.node(2).is_err());
    }

    #[test]
    fn a_stopped_node_is_rebuilt_under_a_fresh_id_with_its_config_and_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let mut cluster = fake_cluster(dir.path());
        let before = cluster.node(2).unwrap().addrs.clone();
        assert!(cluster.rebuild_node(2).is_err(), "a running node is not rebuilt");
        cluster.stop_node(2).unwrap();
        assert_eq!(cluster.rebuild_node(2).unwrap(), 4);
        let ids: Vec<u64> = cluster.nodes().iter().map(|n| n.addrs.id).collect();
        assert_eq!(ids, [1, 3, 4], "listed under the new id, in id order");
        let rebuilt = cluster.node(4).unwrap();
        assert_eq!((rebuilt.addrs.raft, rebuilt.addrs.api), (before.raft, before.api), "same addresses");
        assert_eq!(rebuilt.config, dir.path().join("node2").join("regiond.toml"), "same config file");
        assert_eq!(rebuilt.data_dir, dir.path().join("node2").join("data"));
        assert!(rebuilt.is_started() && cluster.node(2).is_err());
        let config = rebuilt.config.display();
        let (api1, api3) = (cluster.node(1).unwrap().addrs.api, cluster.node(3).unwrap().addrs.api);
        let expected = format!("rebuild --config {config} --new-node-id 4 --via {api1} --via {api3}");
        let args = args_until(dir.path(), 2, |args| args.lines().any(|line| line == expected));
        assert!(args.lines().any(|line| line == expected), "{args}");
        assert_eq!(cluster.add_node().unwrap(), 5, "the rebuilt node's id is taken");
        cluster.shutdown();
    }

    #[test]
    fn pauses_resume_and_a_node_that_exits_on_its_own_can_be_restarted() {
        let dir = tempfile::tempdir().unwrap();
        let mut cluster = fake_cluster(dir.path());
        cluster.pause_node(1).unwrap();
        cluster.resume_node(1).unwrap();
        cluster.resume_node(2).unwrap();
        assert_eq!(cluster.take_exited(1).unwrap(), None, "still running");
        cluster.stop_node(3).unwrap();
        assert!(cluster.pause_node(3).is_err(), "a stopped node cannot be paused");
        std::fs::write(dir.path().join("node3").join("exit"), "").unwrap();
        cluster.start_node(3, false).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = cluster.take_exited(3).unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "node 3 should have exited");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(status.code(), Some(3));
        assert!(!cluster.node(3).unwrap().is_started(), "forgotten, so it can be started again");
        std::fs::remove_file(dir.path().join("node3").join("exit")).unwrap();
        cluster.start_node(3, false).unwrap();
        assert!(cluster.node(3).unwrap().is_started());
        cluster.shutdown();
    }

    #[test]
    fn own_loopback_puts_each_node_on_its_own_address() {
        let all = allocate_addrs(3, Ports::OwnLoopback).unwrap();
        for addrs in &all {
            let ip = std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, u8::try_from(addrs.id + 1).unwrap()));
            assert_eq!([addrs.raft.ip(), addrs.api.ip(), addrs.metrics.ip()], [ip; 3]);
        }
        assert_eq!(Ports::OwnLoopback.ip(255).unwrap(), Ipv4Addr::new(127, 0, 1, 0));
        assert_eq!(Ports::OwnLoopback.ip(OWN_LOOPBACK_ID_MAX).unwrap(), Ipv4Addr::new(127, 255, 255, 254));
        assert!(Ports::OwnLoopback.ip(OWN_LOOPBACK_ID_MAX + 1).is_err());
        assert_eq!(Ports::Free.ip(300).unwrap(), Ipv4Addr::LOCALHOST);
        let fixed = node_addrs(4, Ports::From(17_000)).unwrap();
        assert_eq!((fixed.raft.port(), fixed.api.port(), fixed.metrics.port()), (17_004, 17_104, 17_204));
    }

    #[test]
    fn the_raft_table_is_written_only_when_asked() {
        let mut spec = spec();
        let all = allocate_addrs(3, Ports::Free).unwrap();
        assert!(!node_config(&spec, &all[0], &all).contains("[raft]"));
        spec.tuning.logs_kept_after_snapshot = Some(0);
        let text = node_config(&spec, &all[0], &all);
        let parsed: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(parsed["raft"]["logs_kept_after_snapshot"].as_integer(), Some(0), "{text}");
    }

    #[test]
    fn histogram_sums_add_over_label_sets() {
        let page = "\
# HELP regiond_proposals_per_entry Commands batched into one Raft entry
# TYPE regiond_proposals_per_entry histogram
regiond_proposals_per_entry_bucket{group=\"region/bench\",node=\"1\",le=\"1\"} 3
regiond_proposals_per_entry_sum{group=\"region/bench\",node=\"1\"} 120
regiond_proposals_per_entry_count{group=\"region/bench\",node=\"1\"} 4
regiond_proposals_per_entry_sum{group=\"region/bench\",node=\"2\"} 30
regiond_proposals_per_entry_count{group=\"region/bench\",node=\"2\"} 1
regiond_proposals_per_entry_sum_other 99
";
        assert_eq!(histogram_sum_count(page, "regiond_proposals_per_entry"), (150.0, 5.0));
        assert_eq!(histogram_sum_count(page, "regiond_missing"), (0.0, 0.0));
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), "hello world");
    }
}
