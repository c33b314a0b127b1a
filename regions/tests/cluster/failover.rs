//! Stopping the leader: a new one is elected and writes continue through
//! the same client; the old leader restarts from its data dir and catches
//! up to exactly the same state; a retried command applies once. A leader
//! restarted from its data dir never resumes its old term.

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

/// A leader's saved committed id may trail what it applied before an OS
/// crash (it is not synced on the write path), so a restarted leader must
/// never lead again in its old term, reading from a replay that stopped
/// short: it stands for election like any node, and the new term's first
/// entry covers every earlier commit before any read. Here the old leader
/// restarts first and alone (with leader restore it would lead again at
/// once, in the same term); the group only serves again in a higher term,
/// with everything it acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_leader_serves_only_in_a_new_term() {
    let mut region = Region::start(3).await;
    support::register_warehouse(&region.admin()).await;
    support::receive(&region.client(WAREHOUSE_TOKEN), "c-receive-1", "apple", 10).await.expect("received");
    let leader = region.wait_leader().await;
    let term = region.term(leader);

    for follower in (1..=3).filter(|id| *id != leader) {
        region.stop(follower).await;
    }
    region.stop(leader).await;
    region.restart(leader).await;
    for follower in (1..=3).filter(|id| *id != leader) {
        region.restart(follower).await;
    }

    let new = region.wait_leader().await;
    assert!(region.term(new) > term, "node {new} leads in term {}, the old leader's was {term}", region.term(new));
    assert_eq!(support::on_hand(&region.client(WAREHOUSE_TOKEN), "apple").await, 10);
    region.shutdown().await;
}
