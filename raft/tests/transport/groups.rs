//! Two groups hosted by the same three nodes (one storage, one transport,
//! one server per node) make progress independently.

use super::support::{self, Cluster, GroupSpec, envelope, on_hand, receive, register, write};

const EU: GroupSpec = GroupSpec { id: "region/eu", region: "eu" };
const US: GroupSpec = GroupSpec { id: "region/us", region: "us" };

/// Registers a warehouse in `spec`'s group and receives stock in `batches`
/// entries; returns the last entry's index.
async fn stock(cluster: &Cluster, spec: GroupSpec, leader: u64, batches: u64) -> u64 {
    let raft = cluster.node(leader).raft(spec.id);
    let mut last = write(raft, vec![envelope("c-register", register("wh-1", spec.region))]).await;
    for i in 0..batches {
        last = write(raft, vec![envelope(&format!("c-{i}"), receive("wh-1", "apple", 1))]).await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_groups_on_the_same_nodes_progress_independently() {
    let mut cluster = Cluster::start(3, &[EU, US], support::raft_config()).await;
    for node in cluster.nodes.values() {
        assert_eq!(node.transport.registry().groups(), [support::group(EU.id), support::group(US.id)]);
    }
    cluster.initialize(EU.id).await;
    cluster.initialize(US.id).await;
    let (eu_leader, us_leader) = tokio::join!(cluster.leader(EU.id), cluster.leader(US.id));

    // Both groups write at once over the same connections.
    let (eu_last, us_last) = tokio::join!(stock(&cluster, EU, eu_leader, 6), stock(&cluster, US, us_leader, 9));
    let ids = cluster.ids();
    let eu_hash = cluster.converged(EU.id, &ids, eu_last).await;
    let us_hash = cluster.converged(US.id, &ids, us_last).await;
    assert_ne!(eu_hash, us_hash);
    for node in cluster.nodes.values() {
        assert_eq!(on_hand(&node.replica(EU.id).reader, "wh-1", "apple"), Some(6), "node {}", node.id);
        assert_eq!(on_hand(&node.replica(US.id).reader, "wh-1", "apple"), Some(9), "node {}", node.id);
        assert!(node.transport.stats().peer_channels <= 2, "node {}: groups share each peer's channel", node.id);
    }
    for leader in [eu_leader, us_leader] {
        assert_eq!(cluster.node(leader).transport.stats().peer_channels, 2, "leader {leader} reaches both peers");
    }

    // Two nodes stop hosting US: it loses its quorum, EU does not notice.
    let us_gone: Vec<u64> = ids.iter().copied().filter(|&id| id != us_leader).take(2).collect();
    for &id in &us_gone {
        cluster.node_mut(id).drop_group(US.id).await;
    }
    let eu_leader = cluster.leader(EU.id).await;
    let index = write(cluster.node(eu_leader).raft(EU.id), vec![envelope("c-more", receive("wh-1", "apple", 4))]).await;
    cluster.converged(EU.id, &ids, index).await;
    let us_metrics = cluster.node(us_leader).metrics(US.id);
    assert_eq!(us_metrics.last_applied.map(|id| id.index), Some(us_last), "US committed nothing more");

    cluster.shutdown().await;
}
