//! The client half: openraft's network for one group, over channels shared
//! by every group.
//!
//! openraft asks a group's [`GroupNetwork`] (its `RaftNetworkFactory`) for
//! a [`PeerNetwork`] per target node, often: for every election, every
//! replication session and every heartbeat worker. Creating one is cheap on
//! purpose: it clones the peer's cached `tonic` channel from the process
//! wide [`ChannelPool`], which connects lazily and reconnects on its own, so
//! all groups' traffic to a peer shares one HTTP/2 connection.
//!
//! How each RPC travels:
//! - replication: one `StreamAppend` stream per session, pipelined; a fault
//!   rule that drops a message breaks the stream;
//! - heartbeats (openraft's heartbeat client): unary `AppendEntries`, one
//!   per beat, so a beat never waits behind a replication stream's setup;
//! - votes, pre-votes, leadership hand-overs: unary calls;
//! - snapshots: one `InstallSnapshot` client stream of chunks.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{Stream, StreamExt, stream};
use openraft::base::{BoxFuture, BoxStream};
use openraft::errors::{Fatal, NetworkError, RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable};
use openraft::network::{
    Backoff, NetAppend, NetBackoff, NetSnapshot, NetStreamAppend, NetTransferLeader, NetVote, RPCOption,
    RaftNetworkFactory, stream_append_sequential,
};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest, TransferLeaderResponse,
    VoteRequest, VoteResponse,
};
use openraft::vote::RaftLeaderId;
use openraft::{OptionalSend, RPCTypes};
use protos::raft as pb;
use protos::raft::install_snapshot_chunk::Chunk;
use protos::raft::raft_transport_client::RaftTransportClient;
use tokio::sync::oneshot;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tracing::Instrument;

use crate::group::GroupId;
use crate::group_builds::GroupBuilds;
use crate::transport::codec::{
    self, AppendReply, Ballot, DecodeError, SnapshotReply, StreamReply, TransferReply, VotePayload, VoteReply,
};
use crate::transport::faults::{Faults, Flow, LinkCut};
use crate::transport::snapshot::{Chunks, MAX_CHUNK_BYTES};
use crate::transport::{Shared, TransportConfig};
use crate::type_config::{NodeInfo, Snapshot, TypeConfig, Vote};

type Client = RaftTransportClient<Channel>;

/// Most cached channels. Peers come from membership configs, so this is
/// only reached if addresses keep changing; then an arbitrary old one is
/// evicted (its current users keep their clone).
const MAX_CHANNELS: usize = 256;

/// One lazily connected channel per peer address, for the whole process.
#[derive(Debug)]
pub(crate) struct ChannelPool {
    channels: Mutex<HashMap<String, Channel>>,
    connect_timeout: Duration,
    keepalive_interval: Duration,
    keepalive_timeout: Duration,
}

/// A membership config names a node by an address tonic cannot use.
#[derive(Clone, Debug, thiserror::Error)]
#[error("node address `{addr}` is not a usable `host:port`: {reason}")]
struct BadAddress {
    addr: String,
    reason: String,
}

impl ChannelPool {
    pub(crate) fn new(config: &TransportConfig) -> Self {
        Self {
            channels: Mutex::new(HashMap::new()),
            connect_timeout: config.connect_timeout,
            keepalive_interval: config.keepalive_interval,
            keepalive_timeout: config.keepalive_timeout,
        }
    }

    /// How many peer addresses have a channel.
    pub(crate) fn len(&self) -> usize {
        self.channels.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// The channel to `addr`, created (unconnected) on first use.
    fn channel(&self, addr: &str) -> Result<Channel, BadAddress> {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(channel) = channels.get(addr) {
            return Ok(channel.clone());
        }
        let bad = |reason: String| BadAddress { addr: addr.to_owned(), reason };
        if addr.is_empty() {
            return Err(bad("empty".into()));
        }
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| bad(e.to_string()))?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(self.keepalive_interval)
            .keep_alive_timeout(self.keepalive_timeout)
            .keep_alive_while_idle(true);
        let channel = endpoint.connect_lazy();
        if channels.len() >= MAX_CHANNELS
            && let Some(old) = channels.keys().next().cloned()
        {
            channels.remove(&old);
        }
        channels.insert(addr.to_owned(), channel.clone());
        Ok(channel)
    }
}

/// The `RaftNetworkFactory` of one group on this node: pass it to
/// `openraft::Raft::new`. Made by [`Transport::network`](crate::transport::Transport::network).
#[derive(Clone, Debug)]
pub struct GroupNetwork {
    group: GroupId,
    builds: GroupBuilds,
    shared: Arc<Shared>,
}

impl GroupNetwork {
    pub(crate) fn new(group: GroupId, builds: GroupBuilds, shared: Arc<Shared>) -> Self {
        Self { group, builds, shared }
    }

    fn peer(&self, target: u64, node: &NodeInfo, append: AppendPath) -> PeerNetwork {
        let config = &self.shared.config;
        let limit = config.max_message_bytes;
        let client = self.shared.pool.channel(&node.grpc_addr).map(|channel| {
            RaftTransportClient::new(channel).max_decoding_message_size(limit).max_encoding_message_size(limit)
        });
        if let Err(error) = &client {
            tracing::warn!(group = %self.group, target, %error, "cannot reach a member: its address is unusable");
        }
        PeerNetwork {
            group: self.group.clone(),
            cluster: config.cluster_id.clone(),
            local: config.node_id,
            target,
            client,
            faults: self.shared.faults.clone(),
            builds: self.builds.clone(),
            append,
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for GroupNetwork {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: u64, node: &NodeInfo) -> PeerNetwork {
        self.peer(target, node, AppendPath::Stream)
    }

    async fn new_heartbeat_client(&mut self, target: u64, node: &NodeInfo) -> PeerNetwork {
        self.peer(target, node, AppendPath::Unary)
    }
}

/// How a [`PeerNetwork`] sends AppendEntries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AppendPath {
    /// One pipelined `StreamAppend` stream per replication session.
    Stream,
    /// One unary `AppendEntries` call per request: heartbeats.
    Unary,
}

/// One group's connection to one peer node: openraft's network for that
/// target.
#[derive(Debug)]
pub struct PeerNetwork {
    group: GroupId,
    /// The cluster this node belongs to, named in every request.
    cluster: String,
    local: u64,
    target: u64,
    /// A client on the shared channel, or why the peer's address is unusable.
    client: Result<Client, BadAddress>,
    faults: Faults,
    /// What this node knows of the group's snapshot builds: told to the
    /// target in every request, updated from its AppendEntries replies.
    builds: GroupBuilds,
    append: AppendPath,
}

/// Why one call failed, before it becomes openraft's error.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error(transparent)]
    Cut(#[from] LinkCut),
    #[error(transparent)]
    BadAddress(BadAddress),
    #[error("the peer answered {0}")]
    Status(Status),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("the peer's replica of the group has stopped: {0}")]
    RemoteStopped(Fatal<TypeConfig>),
    #[error("no answer within {0:?}")]
    Deadline(Duration),
}

impl CallError {
    /// openraft's view: `Unreachable` (back off) when retrying at once cannot
    /// help, `Timeout` for a deadline, `NetworkError` (retry at once) for
    /// other failures mid-call.
    fn into_rpc(self, action: RPCTypes, id: u64, target: u64) -> RPCError<TypeConfig> {
        match self {
            CallError::Deadline(timeout) => RPCError::Timeout(Timeout { action, id, target, timeout }),
            CallError::Status(status) if !backs_off(status.code()) => RPCError::Network(NetworkError::new(&status)),
            error => RPCError::Unreachable(Unreachable::new(&error)),
        }
    }
}

/// Status codes after which an immediate retry would fail the same way: the
/// peer is down or overloaded, does not host the group, is not the node we
/// meant, or refuses what we send.
fn backs_off(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::NotFound
            | Code::FailedPrecondition
            | Code::ResourceExhausted
            | Code::InvalidArgument
            | Code::OutOfRange
            | Code::DataLoss
            | Code::Unimplemented
            | Code::PermissionDenied
            | Code::Unauthenticated
    )
}

/// The term of a vote, for headers.
fn term_of(vote: &Vote) -> u64 {
    vote.leader_id().term()
}

fn append_message(header: pb::RaftHeader, request: &AppendEntriesRequest<TypeConfig>) -> pb::AppendEntriesRequest {
    pb::AppendEntriesRequest {
        header: Some(header),
        entry_count: u32::try_from(request.entries.len()).unwrap_or(u32::MAX),
        payload: codec::encode(request),
    }
}

impl PeerNetwork {
    /// The header of a request sent in `term`: what the server admits it by.
    fn header(&self, term: u64) -> pb::RaftHeader {
        pb::RaftHeader {
            group_id: self.group.as_str().to_owned(),
            from_node_id: self.local,
            target_node_id: self.target,
            term,
            cluster_id: self.cluster.clone(),
            others_building_snapshot: self.builds.building_besides(self.target),
        }
    }

    fn client(&self) -> Result<Client, CallError> {
        self.client.clone().map_err(CallError::BadAddress)
    }

    fn rpc_error(&self, action: RPCTypes, error: CallError) -> RPCError<TypeConfig> {
        tracing::debug!(%error, "call failed");
        error.into_rpc(action, self.local, self.target)
    }

    /// One unary call: fault rules, then the call, all within `ttl`.
    async fn unary<Req, Resp, Fut>(
        &self,
        ttl: Duration,
        message: Req,
        send: impl FnOnce(Client, tonic::Request<Req>) -> Fut,
    ) -> Result<Resp, CallError>
    where
        Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
    {
        let client = self.client()?;
        let exchange = async {
            self.faults.pass(self.target, Flow::Outbound).await?;
            let mut request = tonic::Request::new(message);
            // The server gives up at the same deadline.
            request.set_timeout(ttl);
            send(client, request).await.map(tonic::Response::into_inner).map_err(CallError::Status)
        };
        tokio::time::timeout(ttl, exchange).await.map_err(|_elapsed| CallError::Deadline(ttl))?
    }

    async fn ballot(
        &self,
        ballot: Ballot,
        request: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let message = pb::VoteRequest {
            header: Some(self.header(term_of(&request.vote))),
            payload: codec::encode(&VotePayload { ballot, request }),
        };
        let outcome = async {
            let reply = self.unary(option.soft_ttl(), message, |mut c, r| async move { c.vote(r).await }).await?;
            let reply: VoteReply = codec::decode("Vote reply", &reply.payload)?;
            reply.map_err(|e| CallError::RemoteStopped(codec::fatal_of(e)))
        };
        outcome.await.map_err(|e| self.rpc_error(RPCTypes::Vote, e))
    }

    /// Opens a replication stream; the deadline bounds the opening only.
    async fn open_stream<S>(
        &self,
        input: S,
        option: RPCOption,
    ) -> Result<BoxStream<'static, Result<StreamReply, RPCError<TypeConfig>>>, CallError>
    where
        S: Stream<Item = AppendEntriesRequest<TypeConfig>> + OptionalSend + Unpin + 'static,
    {
        let mut client = self.client()?;
        let (cut_tx, cut_rx) = oneshot::channel();
        let template = self.header(0);
        let (builds, target) = (self.builds.clone(), self.target);
        let encoded = input.map(move |request| {
            let header = pb::RaftHeader {
                term: term_of(&request.vote),
                others_building_snapshot: builds.building_besides(target),
                ..template.clone()
            };
            append_message(header, &request)
        });
        let requests = filter_outbound(encoded, self.target, self.faults.clone(), cut_tx);
        let setup = option.soft_ttl();
        let opened = tokio::time::timeout(setup, client.stream_append(tonic::Request::new(requests)))
            .await
            .map_err(|_elapsed| CallError::Deadline(setup))?
            .map_err(CallError::Status)?;
        Ok(stream_replies(opened.into_inner(), cut_rx, self.builds.clone(), self.local, self.target))
    }

    /// Sends a whole snapshot: header, then data chunks with their offsets,
    /// the last one with the digest.
    async fn send_snapshot(
        &self,
        vote: Vote,
        snapshot: Snapshot,
        chunk_bytes: usize,
    ) -> Result<SnapshotResponse<TypeConfig>, CallError> {
        let mut client = self.client()?;
        let first = pb::InstallSnapshotChunk {
            chunk: Some(Chunk::Header(pb::SnapshotHeader {
                header: Some(self.header(term_of(&vote))),
                vote: codec::encode(&vote),
                meta: codec::encode(&snapshot.meta),
                total_bytes: snapshot.snapshot.len() as u64,
            })),
        };
        let data = Chunks::new(snapshot.snapshot, chunk_bytes)
            .map(|d| pb::InstallSnapshotChunk { chunk: Some(Chunk::Data(d)) });
        let (cut_tx, mut cut_rx) = oneshot::channel();
        let messages =
            filter_outbound(stream::iter(std::iter::once(first).chain(data)), self.target, self.faults.clone(), cut_tx);
        let answered = client.install_snapshot(tonic::Request::new(messages)).await;
        // A message dropped by a fault rule ended the stream early; whatever
        // the receiver said about the truncated stream, the link was cut.
        if let Ok(cut) = cut_rx.try_recv() {
            return Err(CallError::Cut(cut));
        }
        let reply: SnapshotReply =
            codec::decode("InstallSnapshot reply", &answered.map_err(CallError::Status)?.into_inner().payload)?;
        reply.map_err(|e| CallError::RemoteStopped(codec::fatal_of(e)))
    }
}

/// Passes `messages` to `target` through the fault rules, ending at the
/// first dropped one and reporting it through `cut`, as a broken connection
/// would end a stream.
fn filter_outbound<T: Send + 'static>(
    messages: impl Stream<Item = T> + Send + Unpin + 'static,
    target: u64,
    faults: Faults,
    cut: oneshot::Sender<LinkCut>,
) -> impl Stream<Item = T> + Send + 'static {
    stream::unfold((messages, faults, Some(cut)), move |(mut messages, faults, mut cut)| async move {
        let message = messages.next().await?;
        if let Err(link_cut) = faults.pass(target, Flow::Outbound).await {
            if let Some(cut) = cut.take() {
                // The other side may already be gone; then nobody needs to know.
                let _ = cut.send(link_cut);
            }
            return None;
        }
        Some((message, (messages, faults, cut)))
    })
}

/// The reply side of a replication stream: decodes each reply (noting
/// whether the target builds), and ends with the error that ended the
/// stream (a dropped request, a status, an undecodable reply).
fn stream_replies(
    replies: tonic::Streaming<pb::AppendEntriesResponse>,
    cut: oneshot::Receiver<LinkCut>,
    builds: GroupBuilds,
    local: u64,
    target: u64,
) -> BoxStream<'static, Result<StreamReply, RPCError<TypeConfig>>> {
    enum Event {
        Cut(Option<LinkCut>),
        Reply(Result<Option<pb::AppendEntriesResponse>, Status>),
    }
    struct State {
        replies: tonic::Streaming<pb::AppendEntriesResponse>,
        /// `None` once the request side ended without a drop.
        cut: Option<oneshot::Receiver<LinkCut>>,
        builds: GroupBuilds,
        failed: bool,
    }
    let state = State { replies, cut: Some(cut), builds, failed: false };
    Box::pin(stream::unfold(state, move |mut state| async move {
        if state.failed {
            return None;
        }
        loop {
            let event = match state.cut.as_mut() {
                Some(cut) => tokio::select! {
                    biased;
                    cut = cut => Event::Cut(cut.ok()),
                    reply = state.replies.message() => Event::Reply(reply),
                },
                None => Event::Reply(state.replies.message().await),
            };
            let outcome = match event {
                Event::Cut(None) => {
                    state.cut = None;
                    continue;
                }
                Event::Cut(Some(cut)) => Err(CallError::Cut(cut)),
                Event::Reply(Ok(None)) => return None,
                Event::Reply(Ok(Some(reply))) => {
                    state.builds.heard_from_follower(target, reply.building_snapshot);
                    codec::decode::<StreamReply>("StreamAppend reply", &reply.payload).map_err(CallError::from)
                }
                Event::Reply(Err(status)) => Err(CallError::Status(status)),
            };
            state.failed = outcome.is_err();
            let item = outcome.map_err(|error| {
                tracing::debug!(target, %error, "replication stream failed");
                error.into_rpc(RPCTypes::AppendEntries, local, target)
            });
            return Some((item, state));
        }
    }))
}

impl NetAppend<TypeConfig> for PeerNetwork {
    #[tracing::instrument(level = "debug", skip_all, fields(group = %self.group, target = self.target, rpc = "append_entries", entries = request.entries.len()))]
    async fn append_entries(
        &mut self,
        request: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let message = append_message(self.header(term_of(&request.vote)), &request);
        let outcome = async {
            let reply =
                self.unary(option.soft_ttl(), message, |mut c, r| async move { c.append_entries(r).await }).await?;
            self.builds.heard_from_follower(self.target, reply.building_snapshot);
            let reply: AppendReply = codec::decode("AppendEntries reply", &reply.payload)?;
            reply.map_err(|e| CallError::RemoteStopped(codec::fatal_of(e)))
        };
        outcome.await.map_err(|e| self.rpc_error(RPCTypes::AppendEntries, e))
    }
}

impl NetStreamAppend<TypeConfig> for PeerNetwork {
    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> BoxFuture<'s, Result<BoxStream<'s, Result<StreamReply, RPCError<TypeConfig>>>, RPCError<TypeConfig>>>
    where
        S: Stream<Item = AppendEntriesRequest<TypeConfig>> + OptionalSend + Unpin + 'static,
    {
        match self.append {
            AppendPath::Unary => stream_append_sequential(self, input, option),
            AppendPath::Stream => {
                let span = tracing::debug_span!("stream_append", group = %self.group, target = self.target, rpc = "stream_append");
                Box::pin(
                    async move {
                        match self.open_stream(input, option).await {
                            Ok(replies) => Ok(replies as BoxStream<'s, _>),
                            Err(error) => Err(self.rpc_error(RPCTypes::AppendEntries, error)),
                        }
                    }
                    .instrument(span),
                )
            }
        }
    }
}

impl NetVote<TypeConfig> for PeerNetwork {
    #[tracing::instrument(level = "debug", skip_all, fields(group = %self.group, target = self.target, rpc = "vote"))]
    async fn vote(
        &mut self,
        request: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.ballot(Ballot::Vote, request, option).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(group = %self.group, target = self.target, rpc = "pre_vote"))]
    async fn pre_vote(
        &mut self,
        request: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.ballot(Ballot::PreVote, request, option).await
    }
}

impl NetSnapshot<TypeConfig> for PeerNetwork {
    type SnapshotData = Vec<u8>;

    #[tracing::instrument(level = "info", skip_all, fields(group = %self.group, target = self.target, rpc = "install_snapshot", bytes = snapshot.snapshot.len()))]
    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let ttl = option.soft_ttl();
        let chunk_bytes = option.snapshot_chunk_size().unwrap_or(MAX_CHUNK_BYTES);
        let transfer = tokio::time::timeout(ttl, self.send_snapshot(vote, snapshot, chunk_bytes));
        let outcome = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            outcome = transfer => outcome.unwrap_or(Err(CallError::Deadline(ttl))),
        };
        match outcome {
            Ok(response) => {
                tracing::info!("snapshot sent and installed");
                Ok(response)
            }
            Err(error) => Err(self.rpc_error(RPCTypes::InstallSnapshot, error).into()),
        }
    }
}

impl NetTransferLeader<TypeConfig> for PeerNetwork {
    #[tracing::instrument(level = "debug", skip_all, fields(group = %self.group, target = self.target, rpc = "transfer_leader"))]
    async fn transfer_leader(
        &mut self,
        request: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        let message = pb::TransferLeaderRequest {
            header: Some(self.header(term_of(request.from_leader()))),
            to_node_id: *request.to_node_id(),
            payload: codec::encode(&request),
        };
        let outcome = async {
            let reply =
                self.unary(option.soft_ttl(), message, |mut c, r| async move { c.transfer_leader(r).await }).await?;
            let reply: TransferReply = codec::decode("TransferLeader reply", &reply.payload)?;
            reply.map_err(|e| CallError::RemoteStopped(codec::fatal_of(e)))
        };
        outcome.await.map_err(|e| self.rpc_error(RPCTypes::TransferLeader, e))
    }
}

impl NetBackoff<TypeConfig> for PeerNetwork {
    /// openraft's configured back-off (`Config::backoff`).
    fn backoff(&self) -> Option<Backoff> {
        None
    }
}
