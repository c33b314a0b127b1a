//! Groups sharing the database and the flusher keep their logs, votes and
//! purges to themselves.

use futures_util::future::join_all;
use openraft::storage::{IOFlushed, RaftLogReader, RaftLogStorage};
use openraft::type_config::TypeConfigExt;
use raft::type_config::{Entry, Vote};
use raft::{LogStore, TypeConfig};

use super::support::{self, log_id};

/// Appends `entries` a few at a time without waiting for durability in
/// between, as openraft does, then waits for every callback.
async fn append_pipelined(mut log: LogStore, entries: Vec<Entry>) -> LogStore {
    let mut flushed = Vec::new();
    for chunk in entries.chunks(3) {
        let (tx, rx) = TypeConfig::oneshot();
        log.append(chunk.to_vec(), IOFlushed::signal(tx)).await.unwrap();
        flushed.push(rx);
    }
    for result in join_all(flushed).await {
        result.expect("callback fired").expect("append durable");
    }
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_groups_keep_their_logs_and_purges_apart() {
    let dir = tempfile::tempdir().unwrap();
    let storage = support::open(dir.path());
    // One id is a prefix of the other.
    let (eu, _) = support::stores(&storage, "region/eu");
    let (eu_west, _) = support::stores(&storage, "region/eu-west");
    let eu_entries = support::ledger_log(1, 60);
    let eu_west_entries = support::ledger_log(2, 45);

    let (eu, eu_west) = tokio::join!(
        tokio::spawn(append_pipelined(eu, eu_entries.clone())),
        tokio::spawn(append_pipelined(eu_west, eu_west_entries.clone())),
    );
    let (mut eu, mut eu_west) = (eu.unwrap(), eu_west.unwrap());
    assert_eq!(eu.try_get_log_entries(..).await.unwrap(), eu_entries);
    assert_eq!(eu_west.try_get_log_entries(..).await.unwrap(), eu_west_entries);

    eu.save_vote(&Vote::new_committed(1, 1)).await.unwrap();
    eu_west.save_vote(&Vote::new(2, 3)).await.unwrap();
    assert_eq!(eu.read_vote().await.unwrap(), Some(Vote::new_committed(1, 1)));
    assert_eq!(eu_west.read_vote().await.unwrap(), Some(Vote::new(2, 3)));

    eu.purge(log_id(1, 50)).await.unwrap();
    let state = eu.get_log_state().await.unwrap();
    assert_eq!((state.last_purged_log_id, state.last_log_id), (Some(log_id(1, 50)), Some(log_id(1, 60))));
    assert_eq!(eu.try_get_log_entries(..).await.unwrap(), eu_entries[51..]);
    let state = eu_west.get_log_state().await.unwrap();
    assert_eq!((state.last_purged_log_id, state.last_log_id), (None, Some(log_id(2, 45))));
    assert_eq!(eu_west.try_get_log_entries(..).await.unwrap(), eu_west_entries);

    eu_west.truncate_after(Some(log_id(2, 20))).await.unwrap();
    assert_eq!(eu_west.try_get_log_entries(..).await.unwrap(), eu_west_entries[..=20]);
    assert_eq!(eu.try_get_log_entries(..).await.unwrap(), eu_entries[51..]);
}

/// An entry whose one command carries `bytes` of free text.
fn entry_of_bytes(index: u64, bytes: usize) -> Entry {
    let mut command = support::receive("wh-1", "apple", 1);
    if let ledger::Command::AdjustStock(adjust) = &mut command {
        adjust.reference = "x".repeat(bytes);
    }
    support::normal(1, index, vec![support::envelope(&format!("c-{index}"), 1, command)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limited_reads_stop_at_a_few_mebibytes_but_never_return_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let storage = support::open(dir.path());
    let (mut log, _) = support::stores(&storage, "region/eu-west");
    let mib = 1 << 20;
    let entries = vec![
        entry_of_bytes(1, 2 * mib),
        entry_of_bytes(2, 2 * mib),
        entry_of_bytes(3, 2 * mib),
        entry_of_bytes(4, 5 * mib),
    ];
    support::append(&mut log, entries.clone()).await;

    assert_eq!(log.limited_get_log_entries(1, 5).await.unwrap(), entries[..2], "stops once 4 MiB are read");
    assert_eq!(log.limited_get_log_entries(4, 5).await.unwrap(), entries[3..], "one entry even above the limit");
    assert_eq!(log.try_get_log_entries(1..5).await.unwrap(), entries, "unlimited reads return the whole range");
    assert_eq!(log.try_get_log_entries(5..9).await.unwrap(), []);
}
