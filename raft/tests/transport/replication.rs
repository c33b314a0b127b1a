//! A three-node group bootstraps over gRPC, elects a leader, replicates,
//! serves linearizable reads and hands leadership over.

use openraft::ReadPolicy;

use super::support::{self, GroupSpec, envelope, on_hand, receive, write};

const EU: GroupSpec = GroupSpec { id: "region/eu", region: "eu" };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_node_group_elects_replicates_and_reads_linearizably() {
    let (cluster, leader, index) = support::stocked_trio(EU, "apple", 25).await;
    let hash = cluster.converged(EU.id, &cluster.ids(), index).await;

    let leader_node = cluster.node(leader);
    leader_node.raft(EU.id).ensure_linearizable(ReadPolicy::ReadIndex).await.expect("leader confirmed by a quorum");
    assert_eq!(on_hand(&leader_node.replica(EU.id).reader, "wh-1", "apple"), Some(25));
    // The leader talks to both peers; nobody opens more than one channel per peer.
    assert_eq!(leader_node.transport.stats().peer_channels, 2, "the leader has one channel per peer");
    for node in cluster.nodes.values() {
        assert!(node.transport.stats().peer_channels <= 2, "node {}: at most one channel per peer", node.id);
    }

    // Leadership moves on request (TransferLeader), and the new leader writes.
    let next = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    cluster.node(leader).raft(EU.id).trigger().transfer_leader(next).await.unwrap();
    cluster.node(next).raft(EU.id).wait(support::TIMEOUT).current_leader(next, "took over").await.unwrap();
    assert_eq!(cluster.leader(EU.id).await, next);
    let index = write(cluster.node(next).raft(EU.id), vec![envelope("c-receive-2", receive("wh-1", "apple", 5))]).await;
    assert_ne!(cluster.converged(EU.id, &cluster.ids(), index).await, hash);
    let reader = &cluster.node(next).replica(EU.id).reader;
    cluster.node(next).raft(EU.id).ensure_linearizable(ReadPolicy::ReadIndex).await.unwrap();
    assert_eq!(on_hand(reader, "wh-1", "apple"), Some(30));

    cluster.shutdown().await;
}
