//! The server refuses what it must, with the status the contract names, and
//! installs no snapshot that is not whole, in order and intact. Requests go
//! straight to a node's `RaftTransport` through a raw gRPC client.

use futures_util::stream;
use openraft::StoredMembership;
use openraft::impls::leader_id_adv::LeaderId;
use openraft::raft::{AppendEntriesRequest, TransferLeaderRequest};
use protos::raft::install_snapshot_chunk::Chunk;
use protos::raft::raft_transport_client::RaftTransportClient;
use protos::raft::{self as pb, InstallSnapshotChunk, RaftHeader};
use raft::TypeConfig;
use raft::type_config::{LogId, SnapshotMeta, Vote};
use tonic::Code;
use tonic::transport::Channel;

use super::support::{self, Cluster, GroupSpec};

const EU: GroupSpec = GroupSpec { id: "region/eu", region: "eu" };
/// The node under test.
const NODE: u64 = 1;
/// A peer the node's fault rules cut off.
const CUT_OFF: u64 = 7;

fn header(group: &str, from: u64, target: u64) -> Option<RaftHeader> {
    Some(RaftHeader {
        group_id: group.into(),
        from_node_id: from,
        target_node_id: target,
        term: 1,
        cluster_id: support::CLUSTER.into(),
        others_building_snapshot: false,
    })
}

fn ok_header() -> Option<RaftHeader> {
    header(EU.id, 2, NODE)
}

fn check<T: std::fmt::Debug>(what: &str, result: Result<T, tonic::Status>, expect: Code) {
    match result {
        Err(status) => assert_eq!(status.code(), expect, "{what}: {status:?}"),
        Ok(answer) => panic!("{what}: expected {expect:?}, got an answer {answer:?}"),
    }
}

async fn client(cluster: &Cluster) -> RaftTransportClient<Channel> {
    RaftTransportClient::connect(format!("http://{}", cluster.node(NODE).addr)).await.unwrap()
}

fn vote_of_node_2() -> Vote {
    Vote::new_committed(1, 2)
}

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(LeaderId { term, node_id: 2 }, index)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_with_bad_routing_or_payloads_are_refused() {
    let cluster = Cluster::start(1, &[EU], support::raft_config()).await;
    cluster.node(NODE).faults().isolate([CUT_OFF]).unwrap();
    let mut client = client(&cluster).await;
    let vote = |header: Option<RaftHeader>, payload: Vec<u8>| pb::VoteRequest { header, payload };

    check("no header", client.vote(vote(None, vec![])).await, Code::InvalidArgument);
    check("another target", client.vote(vote(header(EU.id, 2, 3), vec![])).await, Code::FailedPrecondition);
    let mut of_another_cluster = header(EU.id, 2, NODE);
    of_another_cluster.as_mut().unwrap().cluster_id = "staging".into();
    let refused = client.vote(vote(of_another_cluster, vec![])).await.expect_err("another cluster is refused");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("cluster `staging`"), "names the sender's cluster: {refused:?}");
    check("unknown group", client.vote(vote(header("region/nowhere", 2, NODE), vec![])).await, Code::NotFound);
    check("invalid group id", client.vote(vote(header("", 2, NODE), vec![])).await, Code::InvalidArgument);
    check("cut-off sender", client.vote(vote(header(EU.id, CUT_OFF, NODE), vec![])).await, Code::Unavailable);
    check("undecodable payload", client.vote(vote(ok_header(), vec![0xff; 3])).await, Code::InvalidArgument);

    let heartbeat = AppendEntriesRequest::<TypeConfig> {
        vote: vote_of_node_2(),
        prev_log_id: None,
        entries: vec![],
        leader_commit: None,
    };
    let append = |header: Option<RaftHeader>, entry_count: u32| pb::AppendEntriesRequest {
        header,
        entry_count,
        payload: postcard::to_stdvec(&heartbeat).unwrap(),
    };
    check("entry count off", client.append_entries(append(ok_header(), 3)).await, Code::InvalidArgument);
    assert!(client.append_entries(append(ok_header(), 0)).await.is_ok(), "a well-formed heartbeat is answered");

    let transfer = TransferLeaderRequest::<TypeConfig>::new(vote_of_node_2(), NODE, None);
    let transfer = pb::TransferLeaderRequest {
        header: ok_header(),
        to_node_id: 3,
        payload: postcard::to_stdvec(&transfer).unwrap(),
    };
    check("to_node_id off", client.transfer_leader(transfer).await, Code::InvalidArgument);

    // A stream is opened at once and refused on its first request ...
    let unknown = stream::iter([append(header("region/nowhere", 2, NODE), 0)]);
    let mut replies = client.stream_append(unknown).await.unwrap().into_inner();
    check("stream to an unknown group", replies.message().await, Code::NotFound);
    // ... or answered until a request breaks its rules.
    let mixed = stream::iter([append(ok_header(), 0), append(header("region/other", 2, NODE), 0)]);
    let mut replies = client.stream_append(mixed).await.unwrap().into_inner();
    assert!(replies.message().await.unwrap().is_some(), "the first request is answered");
    check("a second group on one stream", replies.message().await, Code::InvalidArgument);

    cluster.shutdown().await;
}

/// The messages of a well-formed transfer of `data` in chunks of 4 bytes.
fn transfer(data: &[u8], meta: &SnapshotMeta) -> Vec<InstallSnapshotChunk> {
    let header = pb::SnapshotHeader {
        header: ok_header(),
        vote: postcard::to_stdvec(&vote_of_node_2()).unwrap(),
        meta: postcard::to_stdvec(meta).unwrap(),
        total_bytes: data.len() as u64,
    };
    let mut messages = vec![InstallSnapshotChunk { chunk: Some(Chunk::Header(header)) }];
    let chunks: Vec<_> = data.chunks(4).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let done = i + 1 == chunks.len();
        messages.push(InstallSnapshotChunk {
            chunk: Some(Chunk::Data(pb::SnapshotData {
                offset: (i * 4) as u64,
                data: chunk.to_vec(),
                done,
                blake3_digest: if done { blake3::hash(data).as_bytes().to_vec() } else { Vec::new() },
            })),
        });
    }
    messages
}

fn data_of(message: &mut InstallSnapshotChunk) -> &mut pb::SnapshotData {
    match message.chunk.as_mut() {
        Some(Chunk::Data(data)) => data,
        other => panic!("not a data chunk: {other:?}"),
    }
}

fn header_of(message: &mut InstallSnapshotChunk) -> &mut pb::SnapshotHeader {
    match message.chunk.as_mut() {
        Some(Chunk::Header(header)) => header,
        other => panic!("not a header: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_that_are_not_whole_in_order_and_intact_are_never_installed() {
    let cluster = Cluster::start(1, &[EU], support::raft_config()).await;
    let mut client = client(&cluster).await;
    let meta = SnapshotMeta { last_log_id: Some(log_id(1, 5)), last_membership: StoredMembership::default() };
    let data = b"twelve bytes".to_vec();
    type Tamper = fn(&mut Vec<InstallSnapshotChunk>);
    let cases: [(&str, Tamper, Code); 12] = [
        ("an empty stream", |m| m.clear(), Code::InvalidArgument),
        ("data before the header", |m| drop(m.remove(0)), Code::InvalidArgument),
        ("an unknown group", |m| header_of(&mut m[0]).header = header("region/nowhere", 2, NODE), Code::NotFound),
        ("another target", |m| header_of(&mut m[0]).header = header(EU.id, 2, 3), Code::FailedPrecondition),
        ("an oversized snapshot", |m| header_of(&mut m[0]).total_bytes = u64::MAX, Code::ResourceExhausted),
        ("an undecodable vote", |m| header_of(&mut m[0]).vote = vec![0xff; 2], Code::InvalidArgument),
        (
            "a last log id beyond the sender's vote",
            |m| {
                let meta = SnapshotMeta { last_log_id: Some(log_id(2, 5)), ..Default::default() };
                header_of(&mut m[0]).meta = postcard::to_stdvec(&meta).unwrap();
            },
            Code::InvalidArgument,
        ),
        ("a gap", |m| drop(m.remove(2)), Code::InvalidArgument),
        ("chunks out of order", |m| m.swap(1, 2), Code::InvalidArgument),
        ("a damaged byte", |m| data_of(&mut m[2]).data[0] ^= 1, Code::InvalidArgument),
        ("no last chunk", |m| drop(m.pop()), Code::InvalidArgument),
        (
            "a message after the last chunk",
            |m| {
                let extra = m[1].clone();
                m.push(extra);
            },
            Code::InvalidArgument,
        ),
    ];
    for (what, tamper, expect) in cases {
        let mut messages = transfer(&data, &meta);
        tamper(&mut messages);
        check(what, client.install_snapshot(stream::iter(messages)).await, expect);
    }

    let stats = cluster.node(NODE).transport.stats();
    assert_eq!((stats.snapshots_refused, stats.snapshots_installed), (12, 0), "{stats:?}");
    assert!(stats.snapshot_chunks_received > 0, "{stats:?}");
    assert_eq!(cluster.node(NODE).metrics(EU.id).snapshot, None, "nothing was installed");

    // Messages over the size limit are refused before they are decoded.
    let oversized = pb::VoteRequest { header: ok_header(), payload: vec![0; 65 << 20] };
    let mut unlimited = client.clone().max_encoding_message_size(usize::MAX);
    check("an oversized message", unlimited.vote(oversized).await, Code::OutOfRange);

    cluster.shutdown().await;
}

/// A peer may open a `StreamAppend` stream before it has a request to
/// send. A node shutting down does not wait for that first request: its
/// server stops in time (`stop` fails after the timeout otherwise).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_still_waiting_for_its_first_request_does_not_hold_up_a_shutdown() {
    let mut cluster = Cluster::start(1, &[EU], support::raft_config()).await;
    let mut client = client(&cluster).await;
    // Answered at once: the server has the stream open, with nothing in it.
    let opened = client.stream_append(stream::pending::<pb::AppendEntriesRequest>()).await;
    let _replies = opened.expect("the stream opens").into_inner();
    cluster.stop(NODE).await;
}
