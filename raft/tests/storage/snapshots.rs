//! Snapshots: installed only when intact, of this region, and not older
//! than what the replica has; the stored one is never replaced otherwise.

use std::io;

use ledger::LedgerConfig;
use openraft::storage::{RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine};
use raft::StateMachineStore;
use raft::storage::{OpenError, SnapshotRejected, verify_snapshot};
use raft::type_config::Snapshot;

use super::support::{self, REGION, log_id};

async fn build(state_machine: &mut StateMachineStore) -> Snapshot {
    state_machine.get_snapshot_builder().await.build_snapshot().await.unwrap()
}

fn rejection(error: &io::Error) -> &SnapshotRejected {
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    error.get_ref().and_then(|inner| inner.downcast_ref()).expect("a SnapshotRejected")
}

/// Asserts that `state_machine` still has `snapshot` stored and its state
/// at `snapshot`'s position, with `hash`.
async fn assert_unchanged(state_machine: &mut StateMachineStore, snapshot: &Snapshot, hash: [u8; 32]) {
    let stored = state_machine.get_current_snapshot().await.unwrap().expect("a stored snapshot");
    assert_eq!(stored.meta, snapshot.meta);
    assert_eq!(stored.snapshot, snapshot.snapshot);
    let reader = state_machine.reader();
    assert_eq!(reader.last_applied(), snapshot.meta.last_log_id);
    assert_eq!(reader.read(|ledger| ledger.state_hash()), hash);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_snapshot_is_refused_and_the_stored_one_kept() {
    let dir = tempfile::tempdir().unwrap();
    let storage = support::open(dir.path());
    let entries = support::ledger_log(1, 30);

    let (_, mut follower) = support::stores(&storage, "region/eu-west");
    support::apply(&mut follower, entries[..=10].to_vec()).await;
    let stored = build(&mut follower).await;
    let hash = follower.reader().read(|ledger| ledger.state_hash());

    let (_, mut leader) = support::stores(&storage, "region/eu-west-leader");
    support::apply(&mut leader, entries.clone()).await;
    let newer = build(&mut leader).await;
    assert_eq!(newer.meta.last_log_id, Some(log_id(1, 30)));

    for at in [0, newer.snapshot.len() / 2, newer.snapshot.len() - 1] {
        let mut damaged = newer.snapshot.clone();
        damaged[at] ^= 0x40;
        let error = follower.install_snapshot(&newer.meta, damaged).await.expect_err("a damaged snapshot");
        assert!(matches!(rejection(&error), SnapshotRejected::Corrupt(_)), "byte {at}: {error}");
        assert_unchanged(&mut follower, &stored, hash).await;
    }
    let mut truncated = newer.snapshot.clone();
    truncated.truncate(truncated.len() - 100);
    let error = follower.install_snapshot(&newer.meta, truncated).await.expect_err("a truncated snapshot");
    assert!(matches!(rejection(&error), SnapshotRejected::Corrupt(_)), "{error}");
    assert_unchanged(&mut follower, &stored, hash).await;

    // The intact one installs: state, applied position and stored snapshot move together.
    follower.install_snapshot(&newer.meta, newer.snapshot.clone()).await.unwrap();
    let leader_hash = leader.reader().read(|ledger| ledger.state_hash());
    assert_unchanged(&mut follower, &newer, leader_hash).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_regions_snapshot_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let storage = support::open(dir.path());
    let mut us = storage.state_machine(support::group("region/us-east"), LedgerConfig::new("us-east")).unwrap();
    support::apply(&mut us, vec![support::blank(1, 1)]).await;
    let theirs = build(&mut us).await;

    let (_, mut eu) = support::stores(&storage, "region/eu-west");
    let error = eu.install_snapshot(&theirs.meta, theirs.snapshot.clone()).await.expect_err("another region's");
    assert!(
        matches!(rejection(&error), SnapshotRejected::WrongRegion { expected, found } if expected == REGION && found == "us-east"),
        "{error}"
    );
    assert!(eu.get_current_snapshot().await.unwrap().is_none());
    assert_eq!(eu.reader().last_applied(), None);
    assert!(
        matches!(verify_snapshot("us-east", &theirs.snapshot), Ok(verified) if verified.ledger.config().region == "us-east")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_snapshot_never_replaces_newer_state_or_a_newer_stored_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let storage = support::open(dir.path());
    let entries = support::ledger_log(1, 30);

    let (_, mut behind) = support::stores(&storage, "region/eu-west-behind");
    support::apply(&mut behind, entries[..=10].to_vec()).await;
    let older = build(&mut behind).await;

    let (_, mut ahead) = support::stores(&storage, "region/eu-west");
    support::apply(&mut ahead, entries.clone()).await;
    let current = build(&mut ahead).await;
    let hash = ahead.reader().read(|ledger| ledger.state_hash());

    let error = ahead.install_snapshot(&older.meta, older.snapshot.clone()).await.expect_err("an older snapshot");
    assert!(
        matches!(rejection(&error), SnapshotRejected::Stale { offered, current } if *offered == Some(log_id(1, 10)) && *current == Some(log_id(1, 30))),
        "{error}"
    );
    assert_unchanged(&mut ahead, &current, hash).await;

    // Building again at the same position keeps the stored snapshot as it is.
    assert_eq!(build(&mut ahead).await.meta, current.meta);
    assert_unchanged(&mut ahead, &current, hash).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_opened_for_another_region_refuses_its_stored_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let storage = support::open(dir.path());
    let mut us = storage.state_machine(support::group("region/us-east"), LedgerConfig::new("us-east")).unwrap();
    support::apply(&mut us, support::ledger_log(1, 5)).await;
    build(&mut us).await;
    drop(us);
    // The same group opened for another region finds a snapshot it must not serve.
    let error = storage.state_machine(support::group("region/us-east"), support::ledger_config()).expect_err("refused");
    assert!(matches!(error, raft::storage::OpenError::ForeignSnapshot { .. }), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_stored_snapshot_stops_the_group_from_opening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let storage = support::open(dir.path());
        let (_, mut state_machine) = support::stores(&storage, "region/eu-west");
        support::apply(&mut state_machine, support::ledger_log(1, 5)).await;
        build(&mut state_machine).await;
    }
    // The group's snapshot file (see `storage::snapshot_store`), one byte flipped in its middle.
    let file = dir
        .path()
        .join("snapshots")
        .join(format!("region_eu-west-{}.snapshot", &blake3::hash(b"region/eu-west").to_hex()[..16]));
    let mut bytes = std::fs::read(&file).expect("the stored snapshot");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    let storage = support::open(dir.path());
    let error = storage.state_machine(support::group("region/eu-west"), support::ledger_config()).expect_err("refused");
    assert!(matches!(error, raft::storage::OpenError::CorruptSnapshot { .. }), "{error:?}");
    assert!(error.to_string().contains("regiond rebuild"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_whose_state_machine_is_dropped_is_abandoned_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let storage = support::open(dir.path());
    let entries = support::ledger_log(1, 800);
    // The same state, built to the end: big enough to pause in.
    let (_, mut whole) = support::stores(&storage, "region/eu-west-whole");
    support::apply(&mut whole, entries.clone()).await;
    let built = build(&mut whole).await;
    assert!(built.snapshot.len() > 2 * ledger::snapshot::PACE_EVERY, "{} bytes", built.snapshot.len());

    let (_, mut state_machine) = support::stores(&storage, "region/eu-west");
    support::apply(&mut state_machine, entries).await;
    let builds = state_machine.snapshot_builds();
    let mut builder = state_machine.get_snapshot_builder().await;
    // openraft drops the state machine when Raft stops; the build was spawned before.
    drop(state_machine);
    let error = builder.build_snapshot().await.expect_err("an abandoned build");
    assert!(error.to_string().contains("abandoned"), "{error}");
    assert_eq!((builds.started_count(), builds.running()), (1, false));
    let (_, mut reopened) = support::stores(&storage, "region/eu-west");
    assert!(reopened.get_current_snapshot().await.unwrap().is_none(), "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_purged_past_its_snapshot_is_refused_when_the_snapshot_file_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    {
        let storage = support::open(dir.path());
        let (mut log, mut state_machine) = support::stores(&storage, "region/eu-west");
        let entries = support::ledger_log(1, 20);
        support::append(&mut log, entries.clone()).await;
        support::apply(&mut state_machine, entries).await;
        build(&mut state_machine).await;
        log.purge(log_id(1, 20)).await.unwrap();
    }
    // Intact, it opens.
    drop(support::open(dir.path()).state_machine(support::group("region/eu-west"), support::ledger_config()).unwrap());
    for file in std::fs::read_dir(dir.path().join("snapshots")).unwrap() {
        std::fs::remove_file(file.unwrap().path()).unwrap();
    }
    let storage = support::open(dir.path());
    let error = storage.state_machine(support::group("region/eu-west"), support::ledger_config()).expect_err("refused");
    assert!(matches!(error, OpenError::SnapshotMissing { purged: 20, snapshot: None, .. }), "{error:?}");
    assert!(error.to_string().contains("regiond rebuild"), "{error}");
}
