//! The highest node id a group has ever used: recorded by apply from every
//! membership entry (voters and learners, the bootstrap one included), never
//! lowered by a removal, carried by snapshots, and back after a restart.

use openraft::StorageHelper;
use openraft::storage::{RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine};
use raft::StateMachineStore;
use raft::storage::verify_snapshot;
use raft::type_config::{Entry, Snapshot, Vote};

use super::support::{self, NODE, REGION, log_id};

const GROUP: &str = "region/eu-west";

/// A group's log up to index 8: bootstrapped by node 1 (index 0), stocked
/// (2..=4), learners 2 and 3 added (5) and made voters (6), a write (7),
/// then node 3 removed (8), so no current membership names id 3.
fn log_removing_the_highest() -> Vec<Entry> {
    let mut log = support::ledger_log(1, 4);
    log.push(support::members(1, 5, &[1], &[2, 3]));
    log.push(support::members(1, 6, &[1, 2, 3], &[]));
    log.push(support::normal(1, 7, vec![support::envelope("c-7", 2_000, support::receive("wh-1", "fig", 7))]));
    log.push(support::members(1, 8, &[1, 2], &[]));
    log
}

async fn build(state_machine: &mut StateMachineStore) -> Snapshot {
    state_machine.get_snapshot_builder().await.build_snapshot().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_keeps_the_highest_id_any_membership_named() {
    let dir = tempfile::tempdir().unwrap();
    let storage = support::open(dir.path());
    let (_, mut state_machine) = support::stores(&storage, GROUP);
    let reader = state_machine.reader();
    assert_eq!(reader.highest_node_id_used(), 0, "no membership applied yet");

    let log = log_removing_the_highest();
    // After each entry: the bootstrap membership names 1, the learners 2
    // and 3, and removing 3 lowers nothing.
    let expected = [1, 1, 1, 1, 1, 3, 3, 3, 3];
    for (entry, expected) in log.into_iter().zip(expected) {
        let index = entry.log_id.index;
        support::apply(&mut state_machine, vec![entry]).await;
        assert_eq!(reader.highest_node_id_used(), expected, "after entry {index}");
    }
    // A learner above every id, then removed: still the highest.
    support::apply(
        &mut state_machine,
        vec![support::members(1, 9, &[1, 2], &[7]), support::members(1, 10, &[1, 2], &[])],
    )
    .await;
    assert_eq!(reader.highest_node_id_used(), 7);
    let (_, membership) = state_machine.applied_state().await.unwrap();
    assert_eq!(membership.membership().nodes().map(|(id, _)| *id).max(), Some(2), "no member names 7 any more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_highest_id_survives_a_snapshot_build_install_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = {
        let storage = support::open(dir.path());
        let (_, mut leader) = support::stores(&storage, GROUP);
        support::apply(&mut leader, log_removing_the_highest()).await;
        let snapshot = build(&mut leader).await;
        assert_eq!(snapshot.meta.last_log_id, Some(log_id(1, 8)));
        assert_eq!(verify_snapshot(REGION, &snapshot.snapshot).unwrap().highest_node_id_used, 3);

        // A replica that never applied a membership installs it.
        let (_, mut follower) = support::stores(&storage, "region/eu-west-follower");
        assert_eq!(follower.reader().highest_node_id_used(), 0);
        follower.install_snapshot(&snapshot.meta, snapshot.snapshot.clone()).await.unwrap();
        assert_eq!(follower.reader().highest_node_id_used(), 3);
        assert_eq!(follower.reader().last_applied(), Some(log_id(1, 8)));
        snapshot
    };

    // Both groups open from their stored snapshots, with no log to replay.
    let storage = support::open(dir.path());
    for group in [GROUP, "region/eu-west-follower"] {
        let (_, mut state_machine) = support::stores(&storage, group);
        let stored = state_machine.get_current_snapshot().await.unwrap().expect("a stored snapshot");
        assert_eq!(stored.snapshot, snapshot.snapshot, "{group}");
        assert_eq!(state_machine.reader().highest_node_id_used(), 3, "{group}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_replays_memberships_after_the_snapshot_and_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_removing_the_highest();
    log.push(support::members(1, 9, &[1, 2], &[5]));
    log.push(support::members(1, 10, &[1, 2], &[]));
    let committed = Some(log_id(1, 10));
    {
        let storage = support::open(dir.path());
        for (group, snapshot_at) in [(GROUP, Some(8)), ("region/eu-west-no-snapshot", None)] {
            let (mut log_store, mut state_machine) = support::stores(&storage, group);
            log_store.save_vote(&Vote::new_committed(1, NODE)).await.unwrap();
            support::append(&mut log_store, log.clone()).await;
            if let Some(at) = snapshot_at {
                support::apply(&mut state_machine, log[..=at].to_vec()).await;
                build(&mut state_machine).await;
            }
            log_store.save_committed(committed).await.unwrap();
        }
    }

    let storage = support::open(dir.path());
    for (group, loaded) in [(GROUP, 3), ("region/eu-west-no-snapshot", 0)] {
        let (mut log_store, mut state_machine) = support::stores(&storage, group);
        let reader = state_machine.reader();
        assert_eq!(reader.highest_node_id_used(), loaded, "{group}: from the stored snapshot");
        // What `Raft::new` runs: the committed log after the snapshot is applied again.
        StorageHelper::new(&mut log_store, &mut state_machine).with_id(NODE).get_initial_state().await.unwrap();
        assert_eq!(reader.last_applied(), committed, "{group}");
        assert_eq!(reader.highest_node_id_used(), 5, "{group}: learner 5 was added and removed after it");
    }
}
