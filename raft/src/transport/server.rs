//! The server half: `raft.proto`'s `RaftTransport` service, answering for
//! every group this node hosts.
//!
//! Every request is admitted the same way before any group sees it:
//! inbound fault rules (a cut link answers UNAVAILABLE), then the header
//! must name this node's cluster and this node (else FAILED_PRECONDITION:
//! the sender's address book points at another deployment, or is stale)
//! and a group this node hosts (else NOT_FOUND). Payloads that do
//! not decode, or disagree with their envelope, are INVALID_ARGUMENT. Only
//! then is the request handed to that group's `openraft::Raft`.
//!
//! tonic runs each call on its own task and nothing here serializes calls,
//! so groups (and calls within a group) are served concurrently; openraft
//! orders them per group.
//!
//! Snapshots get the most care: openraft's `install_full_snapshot` panics on
//! a snapshot inconsistent with the sender's vote and installs whatever it
//! is given, so a transfer is installed only once its group and target are
//! right, its size is within the limit, its chunks are contiguous, its
//! digest matches and its last log id lies within its sender's leadership.

use std::future::ready;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::{StreamExt, stream};
use openraft::errors::RaftError;
use openraft::raft::{AppendEntriesRequest, TransferLeaderRequest};
use openraft::vote::RaftLeaderId;
use protos::raft as pb;
use protos::raft::install_snapshot_chunk::Chunk;
use protos::raft::raft_transport_server::RaftTransport;
use tonic::{Request, Response, Status, Streaming};
use tracing::field::Empty;
use tracing::{Instrument, Span};

use crate::group::GroupId;
use crate::group_builds::GroupBuilds;
use crate::transport::Shared;
use crate::transport::codec::{self, AppendReply, Ballot, SnapshotReply, TransferReply, VotePayload, VoteReply};
use crate::transport::faults::Flow;
use crate::transport::registry::LedgerRaft;
use crate::transport::snapshot::{Progress, Reassembly};
use crate::type_config::{Snapshot, SnapshotMeta, TypeConfig, Vote};

/// The `RaftTransport` service of one node. Internal, node to node: serve it
/// only on the node-to-node listener, never to clients. Made by
/// [`Transport::service`](crate::transport::Transport::service).
#[derive(Clone, Debug)]
pub struct RaftService {
    shared: Arc<Shared>,
}

/// A request that passed admission: its group, that group's Raft, and
/// what this node knows of the group's snapshot builds.
struct Admitted {
    group: GroupId,
    raft: LedgerRaft,
    builds: GroupBuilds,
}

type ReplyStream = BoxStream<'static, Result<pb::AppendEntriesResponse, Status>>;

fn invalid(error: impl std::fmt::Display) -> Status {
    Status::invalid_argument(error.to_string())
}

impl RaftService {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Fault rules, then the header: it must name this node's cluster, this
    /// node and a hosted group.
    async fn admit(&self, header: Option<&pb::RaftHeader>) -> Result<Admitted, Status> {
        let header =
            header.ok_or_else(|| invalid("the request has no header; every Raft RPC names its group and nodes"))?;
        let span = Span::current();
        span.record("group", header.group_id.as_str());
        span.record("from", header.from_node_id);
        self.check_link(header).await?;
        let group = GroupId::new(&header.group_id).map_err(|e| invalid(format!("header.group_id: {e}")))?;
        let hosted = self.shared.registry.get(&group).ok_or_else(|| {
            Status::not_found(format!("node {} hosts no replica of group `{group}`", self.shared.config.node_id))
        })?;
        Ok(Admitted { group, raft: hosted.raft, builds: hosted.builds })
    }

    /// The inbound fault rules for the sender, then the cluster and target checks.
    async fn check_link(&self, header: &pb::RaftHeader) -> Result<(), Status> {
        self.shared
            .faults
            .pass(header.from_node_id, Flow::Inbound)
            .await
            .map_err(|cut| Status::unavailable(cut.to_string()))?;
        let this_cluster = &self.shared.config.cluster_id;
        if header.cluster_id != *this_cluster {
            return Err(Status::failed_precondition(format!(
                "this node belongs to cluster `{this_cluster}`, the sender (node {}) to cluster `{}`: \
                 its membership config has the address of another deployment's node",
                header.from_node_id, header.cluster_id
            )));
        }
        let this_node = self.shared.config.node_id;
        if header.target_node_id != this_node {
            return Err(Status::failed_precondition(format!(
                "this is node {this_node}, not node {}: the sender's membership config has a stale address for it",
                header.target_node_id
            )));
        }
        Ok(())
    }

    /// Admits and decodes the request that opens a `StreamAppend` stream.
    /// A server shutting down stops waiting for it: a peer may open a
    /// stream before it has anything to send, and a graceful shutdown
    /// waits for every open call.
    async fn open_stream(
        &self,
        incoming: &mut Streaming<pb::AppendEntriesRequest>,
    ) -> Result<(Admitted, AppendEntriesRequest<TypeConfig>), Status> {
        let first = tokio::select! {
            first = incoming.message() => first?,
            () = self.shared.closed() => {
                let node = self.shared.config.node_id;
                return Err(Status::unavailable(format!("node {node} is shutting down")));
            }
        };
        let first = first.ok_or_else(|| invalid("the StreamAppend stream ended before its first request"))?;
        let admitted = self.admit(first.header.as_ref()).await?;
        let request = decode_append(&first, &admitted.builds)?;
        Ok((admitted, request))
    }

    /// Checks and decodes a later request of a `StreamAppend` stream.
    async fn next_append(
        &self,
        group: &GroupId,
        builds: &GroupBuilds,
        message: pb::AppendEntriesRequest,
    ) -> Result<AppendEntriesRequest<TypeConfig>, Status> {
        let header = message.header.as_ref().ok_or_else(|| invalid("a StreamAppend request has no header"))?;
        if header.group_id != group.as_str() {
            return Err(invalid(format!(
                "a StreamAppend stream carries one group, `{group}`; a request names `{}`",
                header.group_id
            )));
        }
        self.check_link(header).await?;
        decode_append(&message, builds)
    }

    /// Pipes one `StreamAppend` stream through its group's Raft: routed by
    /// its first request, answered in order. A later request that fails its
    /// checks ends the input; the replies already due are sent, then the
    /// stream ends with that request's status.
    async fn serve_stream(self, mut incoming: Streaming<pb::AppendEntriesRequest>) -> ReplyStream {
        let (admitted, first) = match self.open_stream(&mut incoming).await {
            Ok(opened) => opened,
            Err(status) => return Box::pin(stream::once(ready(Err(status)))),
        };
        let failure = Arc::new(Mutex::new(None::<Status>));
        let closed = self.shared.closed();
        let builds = admitted.builds;
        let state = (incoming, self, admitted.group, builds.clone(), Arc::clone(&failure));
        let rest = stream::unfold(state, |(mut incoming, service, group, builds, failure)| async move {
            let next = match incoming.message().await {
                Ok(None) => return None,
                Ok(Some(message)) => service.next_append(&group, &builds, message).await,
                Err(status) => Err(status),
            };
            match next {
                Ok(request) => Some((request, (incoming, service, group, builds, failure))),
                Err(status) => {
                    *failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(status);
                    None
                }
            }
        });
        // A shutting-down server ends the input, so the stream completes.
        let input = stream::once(ready(first)).chain(rest).take_until(closed);
        let replies = admitted.raft.stream_append(input).map(move |reply| match reply {
            Ok(reply) => Ok(append_reply(codec::encode(&reply), &builds)),
            Err(fatal) => Err(Status::unavailable(format!("this node's replica of the group has stopped: {fatal}"))),
        });
        let trailer = stream::once(async move { failure.lock().unwrap_or_else(PoisonError::into_inner).take() })
            .filter_map(|failure| ready(failure.map(Err)));
        Box::pin(replies.chain(trailer))
    }

    /// Receives, checks and installs one snapshot.
    async fn receive_snapshot(
        &self,
        mut incoming: Streaming<pb::InstallSnapshotChunk>,
    ) -> Result<pb::InstallSnapshotResponse, Status> {
        let config = &self.shared.config;
        let idle = config.snapshot_idle_timeout;
        let first =
            next_chunk(&mut incoming, idle).await?.ok_or_else(|| invalid("the InstallSnapshot stream is empty"))?;
        let Some(Chunk::Header(header)) = first.chunk else {
            return Err(invalid("the first InstallSnapshot message must be the header"));
        };
        let admitted = self.admit(header.header.as_ref()).await?;
        let from = header.header.as_ref().map_or(0, |h| h.from_node_id);
        if header.total_bytes > config.max_snapshot_bytes {
            return Err(Status::resource_exhausted(format!(
                "the snapshot is {} bytes; node {} accepts at most {}",
                header.total_bytes, config.node_id, config.max_snapshot_bytes
            )));
        }
        let _permit = self.shared.snapshot_permits.try_acquire().map_err(|_| {
            Status::resource_exhausted(format!(
                "node {} is already receiving {} snapshots; retry later",
                config.node_id, config.max_concurrent_snapshots
            ))
        })?;
        let vote: Vote = codec::decode("snapshot vote", &header.vote).map_err(invalid)?;
        let meta: SnapshotMeta = codec::decode("snapshot meta", &header.meta).map_err(invalid)?;
        check_within_leadership(&vote, &meta)?;

        let mut reassembly = Reassembly::new(header.total_bytes);
        let mut chunks = 0_u64;
        loop {
            let message = next_chunk(&mut incoming, idle)
                .await?
                .ok_or_else(|| invalid("the InstallSnapshot stream ended before its last chunk"))?;
            let Some(Chunk::Data(data)) = message.chunk else {
                return Err(invalid("an InstallSnapshot message after the header is not a data chunk"));
            };
            self.shared.faults.pass(from, Flow::Inbound).await.map_err(|cut| Status::unavailable(cut.to_string()))?;
            chunks += 1;
            self.shared.counters.snapshot_chunks_received.fetch_add(1, Ordering::Relaxed);
            match reassembly.push(data).map_err(invalid)? {
                Progress::More => continue,
                Progress::Complete => break,
            }
        }
        if next_chunk(&mut incoming, idle).await?.is_some() {
            return Err(invalid("an InstallSnapshot message after the last chunk"));
        }

        let snapshot = Snapshot { meta, snapshot: reassembly.into_data() };
        tracing::info!(group = %admitted.group, chunks, bytes = snapshot.snapshot.len(), "installing a received snapshot");
        let reply: SnapshotReply = admitted.raft.install_full_snapshot(vote, snapshot).await.map_err(RaftError::Fatal);
        if reply.is_ok() {
            self.shared.counters.snapshots_installed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(pb::InstallSnapshotResponse { payload: codec::encode(&reply) })
    }
}

/// Decodes an AppendEntries payload and checks it against its envelope,
/// then records what its leader said about the group's snapshot builds.
fn decode_append(
    message: &pb::AppendEntriesRequest,
    builds: &GroupBuilds,
) -> Result<AppendEntriesRequest<TypeConfig>, Status> {
    let request: AppendEntriesRequest<TypeConfig> =
        codec::decode("AppendEntries request", &message.payload).map_err(invalid)?;
    if request.entries.len() != message.entry_count as usize {
        return Err(invalid(format!(
            "entry_count is {} but the payload holds {} entries",
            message.entry_count,
            request.entries.len()
        )));
    }
    if let Some(header) = &message.header {
        builds.heard_from_leader(header.others_building_snapshot);
    }
    Ok(request)
}

/// The reply to one AppendEntries request, saying whether this replica builds.
fn append_reply(payload: Vec<u8>, builds: &GroupBuilds) -> pb::AppendEntriesResponse {
    pb::AppendEntriesResponse { payload, building_snapshot: builds.building_here() }
}

/// The next message of a snapshot stream, or an error if none comes in `idle`.
async fn next_chunk(
    incoming: &mut Streaming<pb::InstallSnapshotChunk>,
    idle: Duration,
) -> Result<Option<pb::InstallSnapshotChunk>, Status> {
    tokio::time::timeout(idle, incoming.message())
        .await
        .map_err(|_elapsed| Status::deadline_exceeded(format!("no InstallSnapshot message for {idle:?}")))?
}

/// No leader holds a snapshot whose last log id is beyond its own vote;
/// openraft panics on one, so it is refused here instead.
fn check_within_leadership(vote: &Vote, meta: &SnapshotMeta) -> Result<(), Status> {
    match &meta.last_log_id {
        Some(last) if *last.committed_leader_id() > vote.leader_id().to_committed() => Err(invalid(format!(
            "the snapshot's last log id {last} is beyond its sender's leadership ({vote}); no leader holds such a snapshot"
        ))),
        _ => Ok(()),
    }
}

#[tonic::async_trait]
impl RaftTransport for RaftService {
    type StreamAppendStream = ReplyStream;

    #[tracing::instrument(level = "debug", skip_all, fields(rpc = "append_entries", group = Empty, from = Empty))]
    async fn append_entries(
        &self,
        request: Request<pb::AppendEntriesRequest>,
    ) -> Result<Response<pb::AppendEntriesResponse>, Status> {
        let message = request.into_inner();
        let admitted = self.admit(message.header.as_ref()).await?;
        let request = decode_append(&message, &admitted.builds)?;
        let reply: AppendReply = admitted.raft.append_entries(request).await;
        Ok(Response::new(append_reply(codec::encode(&reply), &admitted.builds)))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(rpc = "stream_append", group = Empty, from = Empty))]
    async fn stream_append(
        &self,
        request: Request<Streaming<pb::AppendEntriesRequest>>,
    ) -> Result<Response<ReplyStream>, Status> {
        // Answer at once: the stream is routed by its first request, which
        // the sender may produce only once the stream is open.
        let serve = self.clone().serve_stream(request.into_inner()).instrument(Span::current());
        let replies = stream::once(serve).flatten();
        Ok(Response::new(Box::pin(replies)))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(rpc = "vote", group = Empty, from = Empty))]
    async fn vote(&self, request: Request<pb::VoteRequest>) -> Result<Response<pb::VoteResponse>, Status> {
        let message = request.into_inner();
        let admitted = self.admit(message.header.as_ref()).await?;
        let VotePayload { ballot, request } = codec::decode("Vote request", &message.payload).map_err(invalid)?;
        let reply: VoteReply = match ballot {
            Ballot::Vote => admitted.raft.vote(request).await,
            Ballot::PreVote => admitted.raft.pre_vote(request).await,
        };
        Ok(Response::new(pb::VoteResponse { payload: codec::encode(&reply) }))
    }

    #[tracing::instrument(level = "info", skip_all, fields(rpc = "install_snapshot", group = Empty, from = Empty))]
    async fn install_snapshot(
        &self,
        request: Request<Streaming<pb::InstallSnapshotChunk>>,
    ) -> Result<Response<pb::InstallSnapshotResponse>, Status> {
        match self.receive_snapshot(request.into_inner()).await {
            Ok(reply) => Ok(Response::new(reply)),
            Err(status) => {
                self.shared.counters.snapshots_refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(code = ?status.code(), reason = status.message(), "refused a snapshot");
                Err(status)
            }
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(rpc = "transfer_leader", group = Empty, from = Empty))]
    async fn transfer_leader(
        &self,
        request: Request<pb::TransferLeaderRequest>,
    ) -> Result<Response<pb::TransferLeaderResponse>, Status> {
        let message = request.into_inner();
        let admitted = self.admit(message.header.as_ref()).await?;
        let request: TransferLeaderRequest<TypeConfig> =
            codec::decode("TransferLeader request", &message.payload).map_err(invalid)?;
        if *request.to_node_id() != message.to_node_id {
            return Err(invalid(format!(
                "to_node_id is {} but the payload hands leadership to node {}",
                message.to_node_id,
                request.to_node_id()
            )));
        }
        let reply: TransferReply = admitted.raft.handle_transfer_leader(request).await.map_err(RaftError::Fatal);
        Ok(Response::new(pb::TransferLeaderResponse { payload: codec::encode(&reply) }))
    }
}
