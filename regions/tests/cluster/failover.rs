//! Stopping the leader: a new one is elected and writes continue through
//! the same client; the old leader restarts from its data dir and catches
//! up to exactly the same state; a retried command applies once.

use super::support::{self, Region, WAREHOUSE_TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_leader_is_replaced_and_catches_up_after_restart() {
    let mut region = Region::start(3).await;
    support::register_warehouse(&region.admin()).await;
    let staff = region.client(WAREHOUSE_TOKEN);
    support::receive(&staff, "c-receive-1", "apple", 10).await.expect("received");

    let old = region.wait_leader().await;
    region.stop(old).await;
    let new = region.wait_leader().await;
    assert_ne!(new, old);
    // The client still lists the stopped node; it moves on to the new leader.
    let index = support::receive(&staff, "c-receive-2", "apple", 5).await.expect("written after the failover");
    assert_eq!(support::on_hand(&staff, "apple").await, 15);

    // A retry of an acknowledged command changes nothing.
    support::receive(&staff, "c-receive-2", "apple", 5).await.expect("the retry answers the stored result");
    assert_eq!(support::on_hand(&staff, "apple").await, 15, "the retry applied once");

    region.restart(old).await;
    let hash = region.converged(index).await;
    assert_ne!(hash, [0; 32]);
    assert_eq!(support::on_hand(&region.client(WAREHOUSE_TOKEN), "apple").await, 15);

    region.shutdown().await;
}
