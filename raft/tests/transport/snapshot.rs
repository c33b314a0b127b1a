//! A node that was down while the others wrote and purged their logs is
//! brought back by a snapshot streamed to it in chunks.

use openraft::SnapshotPolicy;

use super::support::{self, Cluster, GroupSpec, envelope, receive, register, write};

const EU: GroupSpec = GroupSpec { id: "region/eu", region: "eu" };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_behind_purged_logs_is_brought_up_to_date_by_a_chunked_snapshot() {
    let config = openraft::Config {
        // Snapshots and purges happen when the test says, and the snapshot
        // travels in many small chunks.
        snapshot_policy: SnapshotPolicy::Never,
        snapshot_max_chunk_size: 1_024,
        max_in_snapshot_log_to_keep: 0,
        ..support::raft_config()
    };
    let mut cluster = Cluster::start(3, &[EU], config).await;
    cluster.initialize(EU.id).await;
    let leader = cluster.leader(EU.id).await;
    let index =
        write(cluster.node(leader).raft(EU.id), vec![envelope("c-register", register("wh-1", EU.region))]).await;
    cluster.converged(EU.id, &cluster.ids(), index).await;

    let down = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    cluster.stop(down).await;
    let mut last = index;
    for i in 0..40 {
        let sku = format!("sku-{i:02}");
        last =
            write(cluster.node(leader).raft(EU.id), vec![envelope(&format!("c-{i}"), receive("wh-1", &sku, 10 + i))])
                .await;
    }
    let up: Vec<u64> = cluster.ids().into_iter().filter(|&id| id != down).collect();
    cluster.converged(EU.id, &up, last).await;

    let leader_raft = cluster.node(leader).raft(EU.id);
    leader_raft.trigger().snapshot().await.unwrap();
    let waiter = leader_raft.wait(support::TIMEOUT);
    let snapshot = waiter.metrics(|m| m.snapshot.is_some_and(|s| s.index == last), "snapshot").await.unwrap().snapshot;
    leader_raft.trigger().purge_log(last).await.unwrap();
    leader_raft.wait(support::TIMEOUT).purged(snapshot, "logs purged up to the snapshot").await.unwrap();

    cluster.restart(down).await;
    let hash = cluster.converged(EU.id, &cluster.ids(), last).await;
    let rejoined = cluster.node(down);
    assert_eq!(rejoined.metrics(EU.id).snapshot, snapshot, "caught up by the leader's snapshot");
    // The replica reports the snapshot before the transport's handler counts it.
    let installed = async {
        while rejoined.transport.stats().snapshots_installed == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(support::TIMEOUT.unwrap(), installed).await.expect("the transport counts the install");
    let stats = rejoined.transport.stats();
    assert_eq!(stats.snapshots_installed, 1, "{stats:?}");
    assert!(stats.snapshot_chunks_received > 1, "the snapshot came in chunks: {stats:?}");
    assert_eq!(stats.snapshots_refused, 0, "{stats:?}");
    assert_eq!(rejoined.replica(EU.id).reader.read(|ledger| ledger.state_hash()), hash);
    assert_eq!(rejoined.replica(EU.id).reader.highest_node_id_used(), 3, "the snapshot carries the ids used");

    cluster.shutdown().await;
}
