//! A leader cut off from the majority commits nothing; the majority elects
//! a new leader and carries on; a write that timed out at the cut-off
//! leader is retried with the same command id and applies exactly once.

use openraft::async_runtime::WatchReceiver;
use protos::warehouse::warehouse_inventory_client::WarehouseInventoryClient;
use region_client::ClientError;

use super::support::{self, Region, WAREHOUSE_TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_leader_commits_nothing_and_a_retried_write_applies_once() {
    let region = Region::start(3).await;
    support::register_warehouse(&region.admin()).await;
    let staff = region.client(WAREHOUSE_TOKEN);
    support::receive(&staff, "c-receive-1", "apple", 10).await.expect("received");
    let old = region.wait_leader().await;

    region.isolate(old).await;
    // Sent to the cut-off leader only: it cannot commit, so the one attempt
    // ends without success and the outcome is unknown to the client.
    let stale = region
        .at(
            old,
            WAREHOUSE_TOKEN,
            "WarehouseInventory/AdjustStock",
            support::receipt("c-receive-2", "apple", 5),
            |c, r| async move { WarehouseInventoryClient::new(c).adjust_stock(r).await },
        )
        .await
        .expect_err("a minority commits nothing");
    match &stale {
        // Not the leader any more (its lease lapsed) or no quorum: definite, nothing applied.
        ClientError::Rejected { status, .. } => assert_eq!(status.code(), tonic::Code::Unavailable, "{stale}"),
        // No answer in time: the outcome is unknown to the client.
        ClientError::NoQuorum { .. } | ClientError::Indeterminate { .. } => {}
        other => panic!("unexpected error: {other}"),
    }

    // The majority elects a leader among themselves and commits.
    let majority: Vec<u64> = region.running.keys().copied().filter(|id| *id != old).collect();
    let new = region.wait_leader_among(&majority).await;
    assert_ne!(new, old);
    let others = region.client_of(&majority, WAREHOUSE_TOKEN);
    support::receive(&others, "c-receive-3", "apple", 1).await.expect("the majority commits");

    region.heal().await;
    // The client retries the timed-out write with the same id: it applies once.
    support::receive(&staff, "c-receive-2", "apple", 5).await.expect("the retry applies");
    support::receive(&staff, "c-receive-2", "apple", 5).await.expect("a second retry is answered from the record");
    assert_eq!(support::on_hand(&staff, "apple").await, 16, "10 + 1 + 5 once");
    let index = region
        .running
        .values()
        .map(|n| n.region().raft().metrics().borrow_watched().last_applied.map_or(0, |l| l.index))
        .max()
        .unwrap();
    region.converged(index).await;

    region.shutdown().await;
}
