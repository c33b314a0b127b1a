//! Fault rules act per sender → target and direction, as openraft sees
//! them: a cut link is `Unreachable`, a slow one runs into the deadline.
//! Calls go straight through one group's network, between two nodes whose
//! groups are not bootstrapped (a vote for term 1 is harmless there).

use std::time::Duration;

use openraft::errors::RPCError;
use openraft::network::{NetVote, RPCOption, RaftNetworkFactory};
use openraft::raft::VoteRequest;
use raft::group_builds::GroupBuilds;
use raft::storage::SnapshotBuilds;
use raft::transport::{Direction, FaultsError, LinkFaults, LinkRule, PeerNetwork};
use raft::type_config::Vote;
use raft::{Faults, NodeInfo, Transport, TransportConfig};

use super::support::{self, Cluster, GroupSpec};

const EU: GroupSpec = GroupSpec { id: "region/eu", region: "eu" };

/// What a vote from `from` to `to` came to.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Answered,
    Unreachable,
    Timeout,
    Other(String),
}

/// Build knowledge for a network whose node hosts no replica of the group.
fn unhosted_builds() -> GroupBuilds {
    GroupBuilds::new(SnapshotBuilds::default())
}

async fn peer(cluster: &Cluster, from: u64, to: u64) -> PeerNetwork {
    let info = NodeInfo { grpc_addr: cluster.node(to).addr.to_string(), ..Default::default() };
    let builds = cluster.node(from).replica(EU.id).builds.clone();
    cluster.node(from).transport.network(support::group(EU.id), builds).new_client(to, &info).await
}

async fn vote(network: &mut PeerNetwork, from: u64, ttl_ms: u64) -> Outcome {
    let request = VoteRequest::new(Vote::new(1, from), None);
    match network.vote(request, RPCOption::new(Duration::from_millis(ttl_ms))).await {
        Ok(_) => Outcome::Answered,
        Err(RPCError::Unreachable(_)) => Outcome::Unreachable,
        Err(RPCError::Timeout(_)) => Outcome::Timeout,
        Err(other) => Outcome::Other(other.to_string()),
    }
}

/// Sets `node`'s rules and checks a vote each way between nodes 1 and 2.
async fn check(cluster: &Cluster, rules: &[(u64, LinkRule)], expect_1_to_2: Outcome, expect_2_to_1: Outcome) {
    for node in cluster.nodes.values() {
        let links = rules.iter().filter(|(id, _)| *id == node.id).map(|(_, rule)| *rule).collect();
        node.faults().set(LinkFaults { links, seed: 0 }).unwrap();
    }
    let (mut one_to_two, mut two_to_one) = (peer(cluster, 1, 2).await, peer(cluster, 2, 1).await);
    assert_eq!(vote(&mut one_to_two, 1, 2_000).await, expect_1_to_2, "1 → 2 under {rules:?}");
    assert_eq!(vote(&mut two_to_one, 2, 2_000).await, expect_2_to_1, "2 → 1 under {rules:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_cut_or_slow_one_direction_at_a_time() {
    use Direction::*;
    use Outcome::*;
    let cluster = Cluster::start(2, &[EU], support::raft_config()).await;

    check(&cluster, &[], Answered, Answered).await;
    // One-way partitions, set on either end.
    check(&cluster, &[(1, LinkRule::cut(2, Outbound))], Unreachable, Answered).await;
    check(&cluster, &[(2, LinkRule::cut(1, Inbound))], Unreachable, Answered).await;
    check(&cluster, &[(1, LinkRule::cut(2, Inbound))], Answered, Unreachable).await;
    check(&cluster, &[(2, LinkRule::cut(1, Both))], Unreachable, Unreachable).await;
    // A delay within the deadline is only latency.
    check(&cluster, &[(1, LinkRule::delay(2, Outbound, 100))], Answered, Answered).await;
    check(&cluster, &[], Answered, Answered).await;

    // A delay past the deadline is a timeout.
    cluster.node(1).faults().set(LinkFaults { links: vec![LinkRule::delay(2, Outbound, 500)], seed: 0 }).unwrap();
    assert_eq!(vote(&mut peer(&cluster, 1, 2).await, 1, 200).await, Timeout);
    cluster.node(1).faults().heal().unwrap();
    assert_eq!(vote(&mut peer(&cluster, 1, 2).await, 1, 200).await, Answered);

    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_cannot_be_reached_are_unreachable() {
    let transport = Transport::new(TransportConfig::new(support::CLUSTER, 1), Faults::disabled());
    let mut network = transport.network(support::group(EU.id), unhosted_builds());
    // A port nobody listens on any more.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    for addr in [closed.to_string(), "not an address".to_owned(), String::new()] {
        let mut peer = network.new_client(2, &NodeInfo { grpc_addr: addr.clone(), ..Default::default() }).await;
        assert_eq!(vote(&mut peer, 1, 2_000).await, Outcome::Unreachable, "address {addr:?}");
    }
    assert_eq!(transport.stats().peer_channels, 1, "only the usable address got a channel");

    // Fault rules are refused, loudly, unless the node enabled them.
    assert_eq!(transport.faults().isolate([2]), Err(FaultsError::Disabled));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_cluster_is_unreachable() {
    let cluster = Cluster::start(2, &[EU], support::raft_config()).await;
    // Same group, same node ids, another deployment: a misconfigured address.
    let stranger = Transport::new(TransportConfig::new("staging", 1), Faults::disabled());
    let info = NodeInfo { grpc_addr: cluster.node(2).addr.to_string(), ..Default::default() };
    let mut network = stranger.network(support::group(EU.id), unhosted_builds()).new_client(2, &info).await;
    assert_eq!(vote(&mut network, 1, 2_000).await, Outcome::Unreachable);
    // The cluster's own node 1 gets its answer.
    assert_eq!(vote(&mut peer(&cluster, 1, 2).await, 1, 2_000).await, Outcome::Answered);
    cluster.shutdown().await;
}
