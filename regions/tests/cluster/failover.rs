//! Stopping the leader: a new one is elected and writes continue through
//! the same client; the old leader restarts from its data dir and catches
//! up to exactly the same state; a retried command applies once, batched
//! reservations included. A leader restarted from its data dir never
//! resumes its old term.

use region_client::{BatcherConfig, ReserveBatcher};

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

/// The gateway's hot path across a failover: reservations batched into
/// `ReserveMany` calls while the leader stops. A call that failed with the
/// old leader is resent whole under the same command ids; every
/// reservation is acknowledged, and each holds its unit once (a second
/// application would answer `ALREADY_EXISTS` for its hold id instead).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_reservations_across_a_leader_stop_each_apply_once() {
    const CALLERS: usize = 16;
    const ROUNDS: usize = 8;
    const STOCK: u64 = 1_000;
    let mut region = Region::start(3).await;
    support::register_warehouse(&region.admin()).await;
    support::receive(&region.client(WAREHOUSE_TOKEN), "c-receive-1", "apple", STOCK).await.expect("received");
    let batcher = ReserveBatcher::new(region.admin(), BatcherConfig::default()).expect("a valid config");

    let (acked, mut acks) = tokio::sync::mpsc::unbounded_channel();
    let mut callers = tokio::task::JoinSet::new();
    for caller in 0..CALLERS {
        let (batcher, acked) = (batcher.clone(), acked.clone());
        callers.spawn(async move {
            for round in 0..ROUNDS {
                let hold_id = format!("h-{caller}-{round}");
                let reserved = batcher.reserve(support::hold_request(&hold_id, "apple", 1, 60_000)).await;
                let hold = reserved.unwrap_or_else(|e| panic!("{hold_id}: {e}")).hold.expect("a hold");
                assert_eq!(hold.hold_id, hold_id, "each caller gets its own hold");
                let _ = acked.send(());
            }
        });
    }
    // Stop the leader once a batch or two went through it.
    for _ in 0..CALLERS {
        acks.recv().await.expect("callers are running");
    }
    let old = region.wait_leader().await;
    region.stop(old).await;
    while let Some(joined) = callers.join_next().await {
        joined.expect("every reservation acknowledged");
    }

    let reservations = (CALLERS * ROUNDS) as u64;
    assert_eq!(support::available(&region.admin(), "apple").await, STOCK - reservations, "one unit per reservation");
    region.shutdown().await;
}
