//! [`RegionNode`]: one `regiond` process: its storage, its replica of the
//! region's Raft group, the batching proposer, the expiry ticks, and three
//! listeners (node-to-node Raft, client-facing API, metrics).
//!
//! Start-up modes ([`StartMode`]):
//! - **Existing**: the data dir must hold this node's database; a missing,
//!   damaged or foreign one stops the node with a message saying why.
//! - **Bootstrap**: a new group. Every initial member starts with the same
//!   `peers`; each initializes its empty log with that membership (the same
//!   on every member, so whichever is first makes no difference). On an
//!   existing data dir this is a plain restart.
//! - **Join**: a new, empty member; it serves and waits for the leader to
//!   add it (`ledgerctl add-learner`, then `membership`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use openraft::Raft;
use openraft::errors::{InitializeError, RaftError};
use protos::admin::admin_server::AdminServer;
use protos::reservation::reservations_server::ReservationsServer;
use protos::warehouse::warehouse_inventory_server::WarehouseInventoryServer;
use raft::group_builds::GroupBuilds;
use raft::snapshot_schedule::SnapshotSchedule;
use raft::storage::{IfMissing, NodeIdentity, StorageClosed, StorageConfig};
use raft::transport::{LedgerRaft, ServeError};
use raft::{Faults, GroupId, NodeInfo, Storage, Transport, TransportConfig};
use region_client::trace::{TRACEPARENT, TraceContext};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::ApiContext;
use crate::api::admin::AdminService;
use crate::api::reservations::ReservationService;
use crate::api::warehouse::WarehouseService;
use crate::clock::LeaderClock;
use crate::config::{ConfigError, NodeConfig};
use crate::expiry;
use crate::faults::FaultHooks;
use crate::metrics::Metrics;
use crate::proposer::{AckPolicy, Proposer, ProposerConfig};
use crate::region::Region;
use openraft::async_runtime::WatchReceiver as _;

/// Largest API request or response, in bytes.
pub const MAX_API_MESSAGE_BYTES: usize = 4 << 20;

/// How a node treats its data dir at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartMode {
    /// Restart on an existing data dir; refuse if it is missing.
    Existing,
    /// Create the data dir if needed and bootstrap the group from `peers`.
    Bootstrap,
    /// Create the data dir if needed and wait to be added to the group.
    Join,
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data dir is missing, damaged or belongs to another node.
    #[error(transparent)]
    Storage(#[from] raft::storage::OpenError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// openraft refused to start or bootstrap.
    #[error("raft: {0}")]
    Raft(String),
}

/// A running node. Dropping it does not stop it: call [`RegionNode::shutdown`].
#[derive(Debug)]
pub struct RegionNode {
    config: NodeConfig,
    raft: LedgerRaft,
    region: Region,
    transport: Transport,
    raft_addr: SocketAddr,
    api_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    raft_server: JoinHandle<Result<(), ServeError>>,
    storage_closed: StorageClosed,
}

impl RegionNode {
    /// Opens the data dir, starts the group's replica and every listener.
    pub async fn start(config: NodeConfig, mode: StartMode) -> Result<Self, StartError> {
        config.validate()?;
        let tokens = Arc::new(config.tokens()?);
        let group = GroupId::new(config.group_id())
            .map_err(|e| ConfigError::Invalid { field: "region".into(), reason: e.to_string() })?;
        let storage = Storage::open(&StorageConfig {
            data_dir: config.data_dir.clone(),
            identity: NodeIdentity { cluster_id: config.cluster_id.clone(), node_id: config.node_id },
            if_missing: if mode == StartMode::Existing { IfMissing::Refuse } else { IfMissing::Create },
        })?;
        let storage_closed = storage.closed();

        let bind = |what: &'static str, addr: SocketAddr| async move {
            TcpListener::bind(addr).await.map_err(|source| StartError::Bind { what, addr, source })
        };
        let raft_listener = bind("raft_addr", config.raft_addr).await?;
        let api_listener = bind("api_addr", config.api_addr).await?;
        let metrics_listener = match config.metrics_addr {
            Some(addr) => Some(bind("metrics_addr", addr).await?),
            None => None,
        };
        let local = |l: &TcpListener| l.local_addr().expect("a bound listener has an address");
        let (raft_addr, api_addr) = (local(&raft_listener), local(&api_listener));
        let metrics_addr = metrics_listener.as_ref().map(local);

        let faults = if config.fault_injection { Faults::enabled(config.node_id) } else { Faults::disabled() };
        let transport = Transport::new(TransportConfig::new(&config.cluster_id, config.node_id), faults);
        let ledger_config = ledger::LedgerConfig::new(&config.region);
        let state_machine = storage.state_machine(group.clone(), ledger_config)?;
        let reader = state_machine.reader();
        let log = storage.log_store(group.clone());
        let builds = GroupBuilds::new(state_machine.snapshot_builds());
        let snapshot_schedule = SnapshotSchedule {
            node_id: config.node_id,
            every: config.raft.snapshot_every,
            log: log.clone(),
            stored: state_machine.stored_snapshot_size(),
            builds: builds.clone(),
        };
        let raft_config = Arc::new(config.raft_config().validate().map_err(|e| StartError::Raft(e.to_string()))?);
        let network = transport.network(group.clone(), builds.clone());
        let raft = Raft::new(config.node_id, raft_config, network, log.clone(), state_machine)
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        transport
            .registry()
            .register(group.clone(), raft.clone(), builds)
            .map_err(|e| StartError::Raft(e.to_string()))?;

        let metrics = Metrics::new(group.as_str(), config.node_id);
        metrics.register_disk(storage.disk_metrics());
        let proposer_config = ProposerConfig {
            max_batch: config.max_batch,
            max_in_flight: config.max_in_flight,
            ..ProposerConfig::default()
        };
        let clock = Arc::new(LeaderClock::default());
        let ack = match config.unsafe_test_mode {
            #[cfg(feature = "unsafe-test-modes")]
            Some(crate::config::UnsafeTestMode::AckBeforeCommit) => {
                tracing::warn!("UNSAFE test mode: acknowledging writes before they are replicated");
                AckPolicy::BeforeCommit(Box::new(crate::unsafe_ack::SpeculativeLedger::new(
                    reader.clone(),
                    config.node_id,
                )))
            }
            // Refused by the config check in builds without the feature.
            _ => AckPolicy::AfterCommit,
        };
        let proposer =
            Proposer::start(raft.clone(), reader.clone(), clock.clone(), proposer_config, ack, metrics.clone());
        let fault_hooks =
            config.fault_injection.then(|| FaultHooks::new(transport.clone(), storage.disk_faults().clone(), clock));
        let region = Region::new(
            group.clone(),
            config.region.clone(),
            raft.clone(),
            reader,
            proposer,
            metrics.clone(),
            config.deadline(),
        );

        let (stop, stopped) = watch::channel(false);
        let until_stopped = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        let serving = transport.clone();
        let raft_server = tokio::spawn({
            let shutdown = until_stopped();
            async move { serving.serve(raft_listener, shutdown).await }
        });
        let ctx = ApiContext { region: region.clone(), tokens };
        let admin = AdminService::new(ctx.clone(), log, fault_hooks);
        let mut tasks = vec![tokio::spawn(serve_api(ctx, admin, api_listener, until_stopped()))];
        if let Some(listener) = metrics_listener {
            let shutdown = until_stopped();
            let (metrics, raft) = (metrics.clone(), raft.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(error) = metrics.serve(raft, listener, shutdown).await {
                    tracing::error!(%error, "the metrics server failed");
                }
            }));
        }
        tasks.push(tokio::spawn(snapshot_schedule.run(raft.clone())));
        tasks.push(tokio::spawn(expiry::run(
            region.clone(),
            std::time::Duration::from_millis(config.expire_interval_ms),
        )));

        if mode == StartMode::Bootstrap {
            bootstrap(&raft, &config, raft_addr, api_addr).await?;
        }
        tracing::info!(node = config.node_id, %group, %raft_addr, %api_addr, ?metrics_addr, ?mode, "regiond started");
        Ok(Self {
            config,
            raft,
            region,
            transport,
            raft_addr,
            api_addr,
            metrics_addr,
            stop,
            tasks,
            raft_server,
            storage_closed,
        })
    }

    /// The node's configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The node-to-node (Raft) address it listens on.
    pub fn raft_addr(&self) -> SocketAddr {
        self.raft_addr
    }

    /// The client-facing API address it listens on.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The metrics address, if enabled.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The hosted region replica.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The Raft transport (its fault switch, for tests and chaos).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Completes when the replica has stopped on a fatal error (a storage
    /// failure such as a failed fsync): the reason. The node then serves
    /// nothing it could acknowledge and should exit.
    pub async fn failed(&self) -> String {
        // The server metrics change only with the vote, the role or the
        // membership, not with every entry as the full metrics do, and
        // close when the Raft core stops: it set `running_state` just before.
        let mut server = self.raft.server_metrics();
        loop {
            if let Err(fatal) = &self.raft.metrics().borrow_watched().running_state {
                return fatal.to_string();
            }
            if server.changed().await.is_err() {
                return match &self.raft.metrics().borrow_watched().running_state {
                    Err(fatal) => fatal.to_string(),
                    Ok(()) => "the replica's Raft stopped".to_owned(),
                };
            }
        }
    }

    /// Stops serving, shuts the replica down, waits for the listeners to
    /// close and for the database to close (so the data dir may be reopened
    /// at once). Everything acknowledged is already durable.
    pub async fn shutdown(self) {
        let Self { config, raft, region, transport, stop, tasks, raft_server, storage_closed, .. } = self;
        transport.registry().deregister(region.group());
        if let Err(error) = raft.shutdown().await {
            tracing::warn!(%error, "raft shut down with an error");
        }
        let _ = stop.send(true);
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
        match raft_server.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "the raft server stopped with an error"),
            Err(error) => tracing::warn!(%error, "the raft server task failed"),
        }
        // The proposer's task ends once the last handle is gone; then the
        // last store closes the database.
        drop((region, raft, transport));
        let closed = async {
            while !storage_closed.is_closed() {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        };
        if tokio::time::timeout(std::time::Duration::from_secs(10), closed).await.is_err() {
            tracing::warn!("the database is still open 10 s after shutdown");
        }
        tracing::info!(node = config.node_id, "regiond stopped");
    }
}

/// Initializes the group with the configured peers (or this node alone),
/// unless its log already has a membership.
async fn bootstrap(
    raft: &LedgerRaft,
    config: &NodeConfig,
    raft_addr: SocketAddr,
    api_addr: SocketAddr,
) -> Result<(), StartError> {
    if raft.is_initialized().await.map_err(|e| StartError::Raft(e.to_string()))? {
        return Ok(());
    }
    if !config.peers.is_empty() && !config.peers.contains_key(&config.node_id) {
        return Err(StartError::Config(ConfigError::Invalid {
            field: "peers".into(),
            reason: format!("must include this node ({}) to bootstrap the group", config.node_id),
        }));
    }
    let members: BTreeMap<u64, NodeInfo> = if config.peers.is_empty() {
        BTreeMap::from([(
            config.node_id,
            NodeInfo { grpc_addr: raft_addr.to_string(), api_addr: api_addr.to_string() },
        )])
    } else {
        config
            .peers
            .iter()
            .map(|(id, peer)| (*id, NodeInfo { grpc_addr: peer.raft_addr.clone(), api_addr: peer.api_addr.clone() }))
            .collect()
    };
    match raft.initialize(members).await {
        Ok(()) => Ok(()),
        // Another initial member's membership arrived first: the same one.
        Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
        Err(error) => Err(StartError::Raft(format!("bootstrap failed: {error}"))),
    }
}

/// The span of one API call: its method and the caller's trace id.
fn api_span(request: &tonic::codegen::http::Request<()>) -> tracing::Span {
    let trace = request
        .headers()
        .get(TRACEPARENT)
        .and_then(|value| value.to_str().ok())
        .and_then(TraceContext::parse)
        .map(|context| context.trace_id_hex());
    // `command_id` and `index` are filled in by a write (`ApiContext::write`).
    // Debug level: at the default `info` no span is built per call (it
    // costs CPU on the request path); `RUST_LOG=regions=debug` turns the
    // trace on.
    tracing::debug_span!(
        "api",
        method = %request.uri().path(),
        trace_id = trace.map(tracing::field::display),
        command_id = tracing::field::Empty,
        index = tracing::field::Empty,
    )
}

/// Serves the client-facing services until `shutdown`.
async fn serve_api(ctx: ApiContext, admin: AdminService, listener: TcpListener, shutdown: impl Future<Output = ()>) {
    let limit = MAX_API_MESSAGE_BYTES;
    let warehouse = WarehouseInventoryServer::new(WarehouseService::new(ctx.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let reservations = ReservationsServer::new(ReservationService::new(ctx.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let admin = AdminServer::new(admin).max_decoding_message_size(limit).max_encoding_message_size(limit);
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let served = tonic::transport::Server::builder()
        // One span per API call, around everything it does on this node:
        // authentication, the proposal and its batch, the read; it carries
        // the caller's trace id (W3C `traceparent`) when one was sent.
        .trace_fn(api_span)
        .add_service(warehouse)
        .add_service(reservations)
        .add_service(admin)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "the API server failed");
    }
}
