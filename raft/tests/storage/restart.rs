//! A data dir reopened after everything was dropped comes back exactly:
//! log, vote, committed, snapshot, and (after openraft's startup replay)
//! the applied state, hash for hash.

use openraft::StorageHelper;
use openraft::storage::{RaftLogReader, RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine};
use raft::type_config::Vote;

use super::support::{self, NODE, log_id};

const GROUP: &str = "region/eu-west";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_recovers_log_vote_committed_snapshot_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let entries = support::ledger_log(1, 40);
    let vote = Vote::new_committed(1, NODE);
    let committed = Some(log_id(1, 35));

    let (log_state, snapshot, hash_before) = {
        let storage = support::open(dir.path());
        let (mut log, mut state_machine) = support::stores(&storage, GROUP);
        log.save_vote(&vote).await.unwrap();
        support::append(&mut log, entries.clone()).await;
        support::apply(&mut state_machine, entries[..=25].to_vec()).await;
        let snapshot = state_machine.get_snapshot_builder().await.build_snapshot().await.unwrap();
        support::apply(&mut state_machine, entries[26..=35].to_vec()).await;
        log.save_committed(committed).await.unwrap();
        log.purge(log_id(1, 10)).await.unwrap();
        let hash = state_machine.reader().read(|ledger| ledger.state_hash());
        (log.get_log_state().await.unwrap(), snapshot, hash)
    };
    assert_eq!(snapshot.meta.last_log_id, Some(log_id(1, 25)));
    assert_eq!(log_state.last_purged_log_id, Some(log_id(1, 10)));
    assert_eq!(log_state.last_log_id, Some(log_id(1, 40)));

    let storage = support::open(dir.path());
    let (mut log, mut state_machine) = support::stores(&storage, GROUP);
    assert_eq!(log.get_log_state().await.unwrap(), log_state);
    assert_eq!(log.read_vote().await.unwrap(), Some(vote));
    assert_eq!(log.read_committed().await.unwrap(), committed);
    assert_eq!(log.try_get_log_entries(..).await.unwrap(), entries[11..]);
    let stored = state_machine.get_current_snapshot().await.unwrap().expect("a stored snapshot");
    assert_eq!((stored.meta, stored.snapshot), (snapshot.meta, snapshot.snapshot));

    // Opening loads the snapshot; openraft's startup (what `Raft::new` runs)
    // replays the committed entries after it, and no further.
    let reader = state_machine.reader();
    assert_eq!(reader.last_applied(), Some(log_id(1, 25)));
    StorageHelper::new(&mut log, &mut state_machine).with_id(NODE).get_initial_state().await.unwrap();
    assert_eq!(reader.last_applied(), committed);
    assert_eq!(reader.read(|ledger| ledger.state_hash()), hash_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_without_a_snapshot_replays_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let entries = support::ledger_log(3, 12);
    let hash_before = {
        let storage = support::open(dir.path());
        let (mut log, mut state_machine) = support::stores(&storage, GROUP);
        log.save_vote(&Vote::new_committed(3, NODE)).await.unwrap();
        support::append(&mut log, entries.clone()).await;
        support::apply(&mut state_machine, entries.clone()).await;
        log.save_committed(Some(log_id(3, 12))).await.unwrap();
        state_machine.reader().read(|ledger| ledger.state_hash())
    };

    let storage = support::open(dir.path());
    let (mut log, mut state_machine) = support::stores(&storage, GROUP);
    let reader = state_machine.reader();
    assert_eq!(reader.last_applied(), None);
    StorageHelper::new(&mut log, &mut state_machine).with_id(NODE).get_initial_state().await.unwrap();
    assert_eq!(reader.last_applied(), Some(log_id(3, 12)));
    assert_eq!(reader.read(|ledger| ledger.state_hash()), hash_before);
}

/// `save_committed` does not wait for the write (openraft awaits it before
/// every apply), yet every save keeps its place in the write order: the
/// last one is what a read sees at once and what a clean reopen finds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_saved_committed_id_is_read_at_once_and_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let entries = support::ledger_log(1, 64);
    {
        let storage = support::open(dir.path());
        let (mut log, _state_machine) = support::stores(&storage, GROUP);
        support::append(&mut log, entries).await;
        for index in 1..=63 {
            log.save_committed(Some(log_id(1, index))).await.unwrap();
        }
        assert_eq!(log.read_committed().await.unwrap(), Some(log_id(1, 63)));
        // Saved just before the clean stop, which writes everything queued.
        log.save_committed(Some(log_id(1, 64))).await.unwrap();
    }
    let storage = support::open(dir.path());
    let (mut log, _state_machine) = support::stores(&storage, GROUP);
    assert_eq!(log.read_committed().await.unwrap(), Some(log_id(1, 64)));
}
