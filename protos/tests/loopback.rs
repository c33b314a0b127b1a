//! The generated clients and servers talk to each other over a real socket on
//! 127.0.0.1: unary, client-streaming and bidirectional RPCs of the Raft
//! transport, and a typed error detail crossing the wire.

use std::pin::Pin;
use std::time::Duration;

use protos::common::NotLeader;
use protos::raft::raft_transport_client::RaftTransportClient;
use protos::raft::raft_transport_server::{RaftTransport, RaftTransportServer};
use protos::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotChunk, InstallSnapshotResponse, RaftHeader,
    SnapshotData, SnapshotHeader, TransferLeaderRequest, TransferLeaderResponse, VoteRequest, VoteResponse,
    install_snapshot_chunk::Chunk,
};
use protos::status::ErrorDetail;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::{Stream, StreamExt as _};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Code, Request, Response, Status, Streaming};

/// The only group the test node hosts.
const GROUP: &str = "region/us-east";

/// Bound on every RPC and on connecting, so a broken test fails instead of
/// hanging.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// A Raft transport that echoes payloads for `GROUP` and answers any other
/// group with `NotLeader`, pointing at node 2.
struct EchoTransport;

fn check_group(header: Option<&RaftHeader>) -> Result<(), Status> {
    let group_id = header.map(|h| h.group_id.as_str()).unwrap_or_default();
    if group_id == GROUP {
        return Ok(());
    }
    Err(ErrorDetail::from(NotLeader {
        group_id: group_id.to_owned(),
        leader_id: Some(2),
        leader_address: Some("127.0.0.1:7002".to_owned()),
    })
    .into_status("not the leader of this group"))
}

type AppendStream = Pin<Box<dyn Stream<Item = Result<AppendEntriesResponse, Status>> + Send>>;

#[tonic::async_trait]
impl RaftTransport for EchoTransport {
    async fn append_entries(
        &self,
        request: Request<AppendEntriesRequest>,
    ) -> Result<Response<AppendEntriesResponse>, Status> {
        let request = request.into_inner();
        check_group(request.header.as_ref())?;
        let header = request.header.unwrap_or_default();
        let building_snapshot = header.others_building_snapshot;
        Ok(Response::new(AppendEntriesResponse { payload: request.payload, building_snapshot }))
    }

    type StreamAppendStream = AppendStream;

    async fn stream_append(
        &self,
        request: Request<Streaming<AppendEntriesRequest>>,
    ) -> Result<Response<Self::StreamAppendStream>, Status> {
        let responses = request.into_inner().map(|request| {
            let request = request?;
            check_group(request.header.as_ref())?;
            Ok(AppendEntriesResponse { payload: request.payload, building_snapshot: true })
        });
        Ok(Response::new(Box::pin(responses)))
    }

    async fn vote(&self, request: Request<VoteRequest>) -> Result<Response<VoteResponse>, Status> {
        let request = request.into_inner();
        check_group(request.header.as_ref())?;
        Ok(Response::new(VoteResponse { payload: request.payload }))
    }

    /// Reassembles the snapshot, enforcing the chunk protocol, and answers
    /// with the assembled bytes.
    async fn install_snapshot(
        &self,
        request: Request<Streaming<InstallSnapshotChunk>>,
    ) -> Result<Response<InstallSnapshotResponse>, Status> {
        let mut chunks = request.into_inner();
        let Some(Chunk::Header(header)) = chunks.message().await?.and_then(|c| c.chunk) else {
            return Err(Status::invalid_argument("first chunk must be the header"));
        };
        check_group(header.header.as_ref())?;
        let mut data = Vec::new();
        while let Some(chunk) = chunks.message().await? {
            let Some(Chunk::Data(part)) = chunk.chunk else {
                return Err(Status::invalid_argument("only the first chunk is a header"));
            };
            if part.offset != data.len() as u64 {
                return Err(Status::invalid_argument("chunk out of order"));
            }
            data.extend_from_slice(&part.data);
            if part.done {
                if data.len() as u64 != header.total_bytes {
                    return Err(Status::invalid_argument("size differs from the header"));
                }
                return Ok(Response::new(InstallSnapshotResponse { payload: data }));
            }
        }
        Err(Status::invalid_argument("stream ended without a done chunk"))
    }

    async fn transfer_leader(
        &self,
        request: Request<TransferLeaderRequest>,
    ) -> Result<Response<TransferLeaderResponse>, Status> {
        let request = request.into_inner();
        check_group(request.header.as_ref())?;
        Ok(Response::new(TransferLeaderResponse { payload: request.payload }))
    }
}

/// A running test server; dropping it without `stop` leaves the task to the
/// runtime's shutdown.
struct Node {
    client: RaftTransportClient<Channel>,
    stop: oneshot::Sender<()>,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Node {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(
            Server::builder().add_service(RaftTransportServer::new(EchoTransport)).serve_with_incoming_shutdown(
                TcpIncoming::from(listener),
                async {
                    // A dropped sender also means stop.
                    let _ = stopped.await;
                },
            ),
        );
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect_timeout(RPC_TIMEOUT)
            .timeout(RPC_TIMEOUT)
            .connect()
            .await
            .expect("connect");
        Self { client: RaftTransportClient::new(channel), stop, server }
    }

    async fn stop(self) {
        drop(self.client);
        self.stop.send(()).expect("server still running");
        self.server.await.expect("server task").expect("server exits cleanly");
    }
}

fn header(group_id: &str) -> Option<RaftHeader> {
    Some(RaftHeader {
        group_id: group_id.to_owned(),
        from_node_id: 1,
        target_node_id: 3,
        term: 7,
        cluster_id: "local".to_owned(),
        others_building_snapshot: true,
    })
}

fn append(group_id: &str, payload: &[u8]) -> AppendEntriesRequest {
    AppendEntriesRequest { header: header(group_id), entry_count: 1, payload: payload.to_vec() }
}

#[tokio::test]
async fn unary_rpcs_round_trip() {
    let mut node = Node::start().await;

    let vote = node.client.vote(VoteRequest { header: header(GROUP), payload: b"vote".to_vec() }).await.expect("vote");
    assert_eq!(vote.into_inner().payload, b"vote");

    let appended = node.client.append_entries(append(GROUP, b"entries")).await.expect("append");
    let appended = appended.into_inner();
    assert_eq!((appended.payload.as_slice(), appended.building_snapshot), (&b"entries"[..], true));

    let transferred = node
        .client
        .transfer_leader(TransferLeaderRequest { header: header(GROUP), to_node_id: 3, payload: b"transfer".to_vec() })
        .await
        .expect("transfer");
    assert_eq!(transferred.into_inner().payload, b"transfer");

    node.stop().await;
}

#[tokio::test]
async fn typed_error_detail_crosses_the_wire() {
    let mut node = Node::start().await;

    let status = node
        .client
        .vote(VoteRequest { header: header("region/eu-west"), payload: Vec::new() })
        .await
        .expect_err("wrong group is refused");
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(
        ErrorDetail::from_status(&status),
        Ok(Some(ErrorDetail::NotLeader(NotLeader {
            group_id: "region/eu-west".to_owned(),
            leader_id: Some(2),
            leader_address: Some("127.0.0.1:7002".to_owned()),
        })))
    );

    node.stop().await;
}

#[tokio::test]
async fn snapshot_streams_in_chunks() {
    let mut node = Node::start().await;
    let snapshot: Vec<u8> = (0..=255).collect();
    let mut chunks = vec![InstallSnapshotChunk {
        chunk: Some(Chunk::Header(SnapshotHeader {
            header: header(GROUP),
            vote: b"vote".to_vec(),
            meta: b"meta".to_vec(),
            total_bytes: snapshot.len() as u64,
        })),
    }];
    let parts: Vec<&[u8]> = snapshot.chunks(100).collect();
    for (i, part) in parts.iter().enumerate() {
        chunks.push(InstallSnapshotChunk {
            chunk: Some(Chunk::Data(SnapshotData {
                offset: (i * 100) as u64,
                data: part.to_vec(),
                done: i + 1 == parts.len(),
                blake3_digest: Vec::new(),
            })),
        });
    }

    let installed = node.client.install_snapshot(tokio_stream::iter(chunks)).await.expect("install");
    assert_eq!(installed.into_inner().payload, snapshot);

    node.stop().await;
}

#[tokio::test]
async fn stream_append_answers_in_order() {
    let mut node = Node::start().await;
    let requests = vec![append(GROUP, b"one"), append(GROUP, b"two"), append(GROUP, b"three")];

    let mut responses =
        node.client.stream_append(tokio_stream::iter(requests)).await.expect("stream append").into_inner();
    let mut payloads = Vec::new();
    while let Some(response) = responses.message().await.expect("response") {
        payloads.push(response.payload);
    }
    assert_eq!(payloads, [&b"one"[..], b"two", b"three"]);

    drop(responses);
    node.stop().await;
}

#[tokio::test]
async fn every_service_has_a_client() {
    let channel = Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
    let _warehouse = protos::warehouse::warehouse_inventory_client::WarehouseInventoryClient::new(channel.clone());
    let _reservations = protos::reservation::reservations_client::ReservationsClient::new(channel.clone());
    let _catalog = protos::catalog::catalog_client::CatalogClient::new(channel.clone());
    let _admin = protos::admin::admin_client::AdminClient::new(channel);
}
