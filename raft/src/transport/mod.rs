//! The gRPC transport between the replicas of every Raft group a node
//! hosts: openraft's network, over `raft.proto`'s `RaftTransport` service.
//!
//! openraft leaves the network to the application. This module gives it one
//! that fits a node hosting several groups: one server answers for all of
//! them (every request names its group), and one connection per peer node
//! carries all groups' traffic to that peer.
//!
//! **Internal, node to node.** `RaftTransport` must be served only on the
//! node-to-node listener and never exposed to clients, the gateway or
//! warehouses: anyone who can call it can vote in elections and overwrite a
//! replica's state with a snapshot.
//!
//! # Layout
//! - [`Transport`]: the process-wide handle, one per node. Holds the
//!   [`GroupRegistry`], the channel pool, the [`Faults`] switch and the
//!   [`TransportConfig`]; makes each group's network factory and the server.
//! - `client`: [`GroupNetwork`], the `RaftNetworkFactory` of one group, and
//!   [`PeerNetwork`], its connection to one peer. Every peer network of every
//!   group shares the one cached `tonic` channel per peer address, connected
//!   lazily.
//! - `server`: [`RaftService`], the `RaftTransport` service: finds the group,
//!   checks the request, hands it to that group's Raft.
//! - `registry`: [`GroupRegistry`], group id → `openraft::Raft`.
//! - `faults`: [`Faults`], the fault-injection switch (off unless the node's
//!   config enables it).
//! - `codec`: openraft's messages as postcard bytes inside the protobufs.
//! - `snapshot`: cutting a snapshot into chunks and checking it back together.
//!
//! # Hosting groups
//! ```no_run
//! use std::sync::Arc;
//!
//! use raft::group_builds::GroupBuilds;
//! use raft::transport::{Faults, Transport, TransportConfig};
//! use raft::{GroupId, Storage};
//!
//! async fn host(storage: Storage, listener: tokio::net::TcpListener) -> Result<(), Box<dyn std::error::Error>> {
//!     let node_id = storage.identity().node_id;
//!     // Fault injection only when the node's config asks for it.
//!     let transport = Transport::new(TransportConfig::new(&storage.identity().cluster_id, node_id), Faults::disabled());
//!     let group = GroupId::new("region/eu-west")?;
//!     let state_machine = storage.state_machine(group.clone(), ledger::LedgerConfig::new("eu-west"))?;
//!     let builds = GroupBuilds::new(state_machine.snapshot_builds());
//!     let config = openraft::Config { install_snapshot_timeout: 30_000, ..Default::default() };
//!     let raft = openraft::Raft::new(
//!         node_id,
//!         Arc::new(config.validate()?),
//!         transport.network(group.clone(), builds.clone()),
//!         storage.log_store(group.clone()),
//!         state_machine,
//!     )
//!     .await?;
//!     transport.registry().register(group, raft, builds)?;
//!     // One server for every hosted group, on the node-to-node listener.
//!     transport.serve(listener, std::future::pending()).await?;
//!     Ok(())
//! }
//! ```
//!
//! # Deadlines and errors
//! Every call has a deadline from openraft's `RPCOption::soft_ttl`:
//! - Votes, leadership hand-overs and heartbeats are unary calls bounded by
//!   it (and tell the server through `grpc-timeout`).
//! - Replication uses one `StreamAppend` stream per peer and group,
//!   pipelined; the deadline bounds opening it. A dead peer under an open
//!   stream is noticed by HTTP/2 keepalive
//!   ([`TransportConfig::keepalive_interval`]), a slow one is waited for.
//! - A snapshot transfer, including the receiver's install, is bounded by
//!   it: openraft derives it from `Config::install_snapshot_timeout`, whose
//!   default (200 ms) is far too short for a real ledger. Size it for the
//!   largest snapshot (tens of seconds).
//!
//! Failures reach openraft as `Unreachable` (it backs off before retrying)
//! when retrying at once cannot help: the peer is down, cut off by a fault
//! rule, does not host the group, is another node than the address book
//! says, is overloaded, refused the request, or its replica stopped.
//! A call that ran out of time is a `Timeout`; other failures mid-call (a
//! reset stream) are a `NetworkError`, retried at once.
//!
//! # Limits
//! Messages are at most [`TransportConfig::max_message_bytes`] both ways;
//! size openraft's `max_payload_entries` so that that many entries fit. A
//! received snapshot is at most [`TransportConfig::max_snapshot_bytes`],
//! at most [`TransportConfig::max_concurrent_snapshots`] are received at
//! once, and a transfer that stalls longer than
//! [`TransportConfig::snapshot_idle_timeout`] is dropped.

mod client;
mod codec;
mod faults;
mod registry;
mod server;
mod snapshot;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use protos::raft::raft_transport_server::RaftTransportServer;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tonic::transport::server::TcpIncoming;

pub use self::client::{GroupNetwork, PeerNetwork};
pub use self::faults::{
    DROP_ALL_PPM, Direction, Faults, FaultsError, LinkFaults, LinkRule, MAX_DELAY_MS, MAX_LINK_RULES,
};
pub use self::registry::{GroupRegistry, LedgerRaft, RegistryError};
pub use self::server::RaftService;
pub use self::snapshot::MAX_CHUNK_BYTES;
use crate::group::GroupId;
use crate::group_builds::GroupBuilds;

/// How the transport of one node behaves. [`TransportConfig::new`] gives
/// the defaults for a node of a cluster.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// The cluster this node belongs to (its data dir's identity): the
    /// `cluster_id` of every request it sends, and the one every request it
    /// serves must name.
    pub cluster_id: String,
    /// This node's id: the `from_node_id` of every request it sends, and the
    /// `target_node_id` every request it serves must name.
    pub node_id: u64,
    /// Largest encoded message sent or accepted (AppendEntries, votes,
    /// snapshot chunks), in bytes.
    pub max_message_bytes: usize,
    /// Largest snapshot accepted from a leader, in bytes: a receiver holds
    /// the whole snapshot in memory before installing it.
    pub max_snapshot_bytes: u64,
    /// Most snapshots received at once; more are refused as
    /// RESOURCE_EXHAUSTED and their leaders retry after a back-off.
    pub max_concurrent_snapshots: usize,
    /// How long a snapshot transfer may go without a chunk before the
    /// receiver drops it.
    pub snapshot_idle_timeout: Duration,
    /// Bound on opening a TCP connection to a peer.
    pub connect_timeout: Duration,
    /// HTTP/2 keepalive ping interval, both ways: how soon a dead peer under
    /// an open replication stream is noticed.
    pub keepalive_interval: Duration,
    /// How long a keepalive ping may go unanswered before the connection is
    /// dropped.
    pub keepalive_timeout: Duration,
}

impl TransportConfig {
    /// The defaults: 64 MiB messages, 4 GiB snapshots (4 at once, 10 s idle),
    /// 1 s connect, 1 s keepalive pings answered within 2 s.
    pub fn new(cluster_id: impl Into<String>, node_id: u64) -> Self {
        Self {
            cluster_id: cluster_id.into(),
            node_id,
            max_message_bytes: 64 << 20,
            max_snapshot_bytes: 4 << 30,
            max_concurrent_snapshots: 4,
            snapshot_idle_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(1),
            keepalive_interval: Duration::from_secs(1),
            keepalive_timeout: Duration::from_secs(2),
        }
    }
}

/// The Raft transport of one node: hands out each hosted group's network
/// factory ([`Transport::network`]) and serves every hosted group
/// ([`Transport::serve`]). Create one per process; cheap to clone.
#[derive(Clone, Debug)]
pub struct Transport {
    shared: Arc<Shared>,
}

/// What the client and server halves share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: TransportConfig,
    pub(crate) faults: Faults,
    pub(crate) registry: GroupRegistry,
    /// One channel per peer address, shared by every group's networks.
    pub(crate) pool: client::ChannelPool,
    /// Bounds snapshots being received (each is buffered whole).
    pub(crate) snapshot_permits: Semaphore,
    pub(crate) counters: Counters,
    /// Set once the server starts shutting down: ends the replication
    /// streams peers hold open, so the shutdown does not wait on them.
    pub(crate) closing: watch::Sender<bool>,
}

impl Shared {
    /// Completes once the server is shutting down.
    pub(crate) fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move {
            // An error means the sender is gone: closed too.
            let _ = closing.wait_for(|closing| *closing).await;
        }
    }
}

/// Counters behind [`TransportStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) snapshots_installed: AtomicU64,
    pub(crate) snapshot_chunks_received: AtomicU64,
    pub(crate) snapshots_refused: AtomicU64,
}

/// What the transport has done so far, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Peer addresses with a cached channel: one per peer node, however
    /// many groups talk to it.
    pub peer_channels: usize,
    /// Snapshots received, checked and handed to their group's Raft.
    pub snapshots_installed: u64,
    /// Snapshot data chunks received, installed or not.
    pub snapshot_chunks_received: u64,
    /// Snapshot transfers refused (out of order, damaged, too large, too
    /// many at once, stalled, or inconsistent with their vote).
    pub snapshots_refused: u64,
}

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
#[error("the Raft transport server failed: {0}")]
pub struct ServeError(#[from] tonic::transport::Error);

impl Transport {
    /// The transport of node `config.node_id`, hosting no group yet.
    pub fn new(config: TransportConfig, faults: Faults) -> Self {
        let pool = client::ChannelPool::new(&config);
        let snapshot_permits = Semaphore::new(config.max_concurrent_snapshots);
        let shared = Shared {
            config,
            faults,
            registry: GroupRegistry::default(),
            pool,
            snapshot_permits,
            counters: Counters::default(),
            closing: watch::Sender::new(false),
        };
        Self { shared: Arc::new(shared) }
    }

    /// This node's id.
    pub fn node_id(&self) -> u64 {
        self.shared.config.node_id
    }

    /// The groups this node serves. Register a group's Raft once it is
    /// created; deregister it before shutting it down.
    pub fn registry(&self) -> &GroupRegistry {
        &self.shared.registry
    }

    /// The fault-injection switch, for the admin API and tests.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// The network factory to pass to `openraft::Raft::new` for `group`,
    /// telling peers what `builds` knows and recording what they answer.
    pub fn network(&self, group: GroupId, builds: GroupBuilds) -> GroupNetwork {
        GroupNetwork::new(group, builds, Arc::clone(&self.shared))
    }

    /// The `RaftTransport` service for every hosted group, with this
    /// transport's message size limits, to add to the node-to-node server.
    /// Internal: never add it to a client-facing server.
    pub fn service(&self) -> RaftTransportServer<RaftService> {
        let limit = self.shared.config.max_message_bytes;
        RaftTransportServer::new(RaftService::new(Arc::clone(&self.shared)))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
    }

    /// Serves [`Transport::service`] on `listener` until `shutdown`
    /// completes. Shutdown ends the replication streams peers hold open and
    /// waits for other calls in progress: shut the hosted groups' Rafts down
    /// first. A transport serves once: make a new one to serve again.
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
        let config = &self.shared.config;
        let closing = &self.shared.closing;
        let shutdown = async move {
            shutdown.await;
            closing.send_replace(true);
        };
        tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .http2_keepalive_interval(Some(config.keepalive_interval))
            .http2_keepalive_timeout(Some(config.keepalive_timeout))
            .add_service(self.service())
            .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), shutdown)
            .await?;
        Ok(())
    }

    /// Counters of this transport so far.
    pub fn stats(&self) -> TransportStats {
        let counters = &self.shared.counters;
        TransportStats {
            peer_channels: self.shared.pool.len(),
            snapshots_installed: counters.snapshots_installed.load(Ordering::Relaxed),
            snapshot_chunks_received: counters.snapshot_chunks_received.load(Ordering::Relaxed),
            snapshots_refused: counters.snapshots_refused.load(Ordering::Relaxed),
        }
    }
}
