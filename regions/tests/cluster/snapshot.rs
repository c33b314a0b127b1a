//! A replica that lost its disk is replaced, while writes continue: it is
//! removed from the voters, and a new, empty node (a new id: ids are never
//! reused, so no vote it once cast can be forgotten) joins as a learner, is
//! rebuilt by a snapshot (the log behind it was purged), and is promoted.
//! Every acknowledged write is in the final state of every replica.

use openraft::async_runtime::WatchReceiver;

use super::support::{self, Region, TIMEOUT, WAREHOUSE_TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_replica_is_replaced_by_a_new_one_rebuilt_by_snapshot_while_writes_continue() {
    let mut region = Region::start_with(3, |config| {
        // Purge everything behind a snapshot, so a new replica needs one.
        config.raft.logs_kept_after_snapshot = 0;
    })
    .await;
    support::register_warehouse(&region.admin()).await;
    let staff = region.client(WAREHOUSE_TOKEN);
    support::receive(&staff, "c-receive-first", "apple", 1).await.expect("received");

    // A writer keeps receiving one unit at a time; it counts what was acknowledged.
    let writer = support::Writer::start(&staff, 1);

    let leader = region.wait_leader().await;
    let lost = region.running.keys().copied().find(|id| *id != leader).unwrap();
    region.stop(lost).await;
    region.wipe(lost);
    let mut voters: Vec<u64> = region.running.keys().copied().collect();
    region.change_voters(voters.clone()).await;

    let leader = region.wait_leader().await;
    region.snapshot_and_purge(leader).await;

    let replacement = 4;
    region.add_learner(replacement).await;
    voters.push(replacement);
    region.change_voters(voters).await;
    // The membership change commits with the two old voters while the new
    // one may still be storing the snapshot it received: wait for it.
    let transport = region.running[&replacement].transport();
    let installed = tokio::time::timeout(TIMEOUT, async {
        while transport.stats().snapshots_installed == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    let stats = transport.stats();
    assert!(installed.is_ok(), "the new replica was rebuilt from a snapshot: {stats:?}");

    let acknowledged = writer.stop().await;
    assert!(acknowledged > 1, "writes went on during the change");
    let on_hand = support::on_hand(&staff, "apple").await;
    // A write whose answer was lost may have applied: never fewer than acknowledged.
    assert!(on_hand >= acknowledged, "every acknowledged write is there: {on_hand} < {acknowledged}");
    let index = region.running[&leader].region().raft().metrics().borrow_watched().last_applied.map_or(0, |l| l.index);
    region.converged(index).await;

    region.shutdown().await;
}
