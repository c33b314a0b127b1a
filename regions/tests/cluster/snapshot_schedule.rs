//! Replicas take snapshots on their own, each at its own point of the
//! `snapshot_every` interval (`raft::snapshot_schedule`), so the replicas
//! of a group do not all spend the CPU at once; a leader hands leadership
//! over before it builds one; a restart then loads the snapshot and loses
//! nothing.

use openraft::async_runtime::WatchReceiver;
use raft::snapshot_schedule;

use super::support::{self, Region, TIMEOUT, WAREHOUSE_TOKEN};

const EVERY: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_replica_snapshots_on_its_own_at_its_own_phase() {
    let mut region = Region::start_with(3, |config| config.raft.snapshot_every = EVERY).await;
    support::register_warehouse(&region.admin()).await;
    let staff = region.client(WAREHOUSE_TOKEN);
    let first_leader = region.wait_leader().await;
    let first_term = region.running[&first_leader].region().raft().metrics().borrow_watched().current_term;
    // One entry each: past every replica's first due point.
    let writes = 3 * EVERY;
    for i in 0..writes {
        support::receive(&staff, &format!("c-receive-{i}"), "apple", 1).await.expect("received");
    }

    for (&id, node) in &region.running {
        let first_due = snapshot_schedule::next_due(0, id, EVERY);
        let metrics = node
            .region()
            .raft()
            .wait(Some(TIMEOUT))
            .metrics(|m| m.snapshot.is_some(), "a snapshot, never asked for")
            .await
            .expect("every replica snapshots on its own");
        let taken = metrics.snapshot.unwrap().index;
        assert!(taken >= first_due, "node {id}: snapshot at {taken}, before its first due point {first_due}");
    }
    let metrics = region.running[&first_leader].region().raft().metrics().borrow_watched().clone();
    assert!(metrics.current_term > first_term, "the first leader handed over before its snapshot: {metrics:?}");
    let phases: Vec<u64> = region.running.keys().map(|&id| snapshot_schedule::phase(id, EVERY)).collect();
    assert!(phases[0] != phases[1] && phases[1] != phases[2] && phases[0] != phases[2], "{phases:?}");

    // A restarted replica starts from its snapshot and has every write.
    let leader = region.wait_leader().await;
    let follower = region.running.keys().copied().find(|id| *id != leader).unwrap();
    region.stop(follower).await;
    region.restart(follower).await;
    let index = region.running[&leader].region().raft().metrics().borrow_watched().last_applied.map_or(0, |l| l.index);
    region.converged(index).await;
    assert_eq!(support::on_hand(&staff, "apple").await, writes);

    region.shutdown().await;
}
