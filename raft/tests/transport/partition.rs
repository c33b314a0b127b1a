//! A leader cut off from the majority by fault rules cannot commit; the
//! majority elects a new leader and commits; after healing, the old leader
//! gives up its write and catches up.

use super::support::{self, Cluster, GroupSpec, envelope, receive, register, write};

const EU: GroupSpec = GroupSpec { id: "region/eu", region: "eu" };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minority_cut_off_cannot_commit_and_catches_up_after_healing() {
    let cluster = Cluster::start(3, &[EU], support::raft_config()).await;
    cluster.initialize(EU.id).await;
    let old = cluster.leader(EU.id).await;
    write(
        cluster.node(old).raft(EU.id),
        vec![
            envelope("c-register", register("wh-1", EU.region)),
            envelope("c-receive-1", receive("wh-1", "apple", 10)),
        ],
    )
    .await;
    let majority: Vec<u64> = cluster.ids().into_iter().filter(|&id| id != old).collect();

    // Cut both ways: the old leader hears nobody and nobody hears it.
    cluster.node(old).faults().isolate(majority.clone()).unwrap();
    for &id in &majority {
        cluster.node(id).faults().isolate([old]).unwrap();
    }

    let new = cluster.leader_among(EU.id, &majority).await;
    assert_ne!(new, old);
    let committed_before = cluster.node(old).metrics(EU.id).local_committed;
    let stale = {
        let raft = cluster.node(old).raft(EU.id).clone();
        tokio::spawn(async move {
            raft.client_write(raft::LedgerBatch {
                envelopes: vec![envelope("c-stale", receive("wh-1", "pear", 1))].into(),
            })
            .await
        })
    };
    let index = write(cluster.node(new).raft(EU.id), vec![envelope("c-receive-2", receive("wh-1", "apple", 7))]).await;
    cluster.converged(EU.id, &majority, index).await;
    assert_eq!(
        cluster.node(old).metrics(EU.id).local_committed,
        committed_before,
        "the cut-off leader committed nothing"
    );

    for node in cluster.nodes.values() {
        node.faults().heal().unwrap();
    }
    let outcome = tokio::time::timeout(support::TIMEOUT.unwrap(), stale).await.expect("the write ends").unwrap();
    assert!(outcome.is_err(), "the write proposed while cut off never succeeds: {outcome:?}");
    cluster.node(old).raft(EU.id).wait(support::TIMEOUT).current_leader(new, "follows the new leader").await.unwrap();
    let last = cluster.node(new).metrics(EU.id).last_applied.unwrap().index;
    cluster.converged(EU.id, &cluster.ids(), last).await;
    let stale_applied =
        cluster.node(old).replica(EU.id).reader.read(|ledger| ledger.idempotency_record(&"c-stale".into()).is_some());
    assert!(!stale_applied, "the stale write was never applied");

    cluster.shutdown().await;
}
