//! Damaged data files: a replica whose files were bit-flipped or cut short
//! refuses to open with [`OpenError::Damaged`] (naming the rebuild command)
//! rather than come back with less, or other, state than it acknowledged.
//! A crash image (the files as a kill -9 leaves them) whose last write was
//! cut mid-record opens with a prefix, as RocksDB's recovery promises.

use std::path::{Path, PathBuf};

use openraft::storage::RaftLogReader;
use raft::Storage;
use raft::storage::OpenError;
use raft::type_config::Entry;

use super::support;

const GROUP: &str = "region/eu-west";

/// Appends `entries` ten at a time (each durable before the next).
async fn append_all(storage: &Storage, entries: &[Entry]) {
    let (mut log, _state_machine) = support::stores(storage, GROUP);
    for chunk in entries.chunks(10) {
        support::append(&mut log, chunk.to_vec()).await;
    }
}

/// Writes a ledger log into a data dir and stops cleanly.
async fn write_and_stop(dir: &Path) -> Vec<Entry> {
    let storage = support::open(dir);
    let closed = storage.closed();
    let entries = support::ledger_log(1, 300);
    append_all(&storage, &entries).await;
    drop(storage);
    while !closed.is_closed() {
        tokio::task::yield_now().await;
    }
    entries
}

/// Writes a ledger log and copies the data dir while the database is still
/// open: the files exactly as a kill -9 would leave them.
async fn write_and_crash(dir: &Path, image: &Path) -> Vec<Entry> {
    let storage = support::open(dir);
    let entries = support::ledger_log(1, 300);
    append_all(&storage, &entries).await;
    for file in std::fs::read_dir(dir).unwrap() {
        let file = file.unwrap().path();
        if file.is_file() && file.file_name().is_some_and(|name| name != "LOCK") {
            std::fs::copy(&file, image.join(file.file_name().unwrap())).unwrap();
        }
    }
    entries
}

/// The largest file of `dir` whose name ends in `.ext`.
fn largest(dir: &Path, ext: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == ext))
        .max_by_key(|path| path.metadata().unwrap().len())
        .unwrap_or_else(|| panic!("no .{ext} file in {}", dir.display()))
}

fn flip_byte(path: &Path, at: impl FnOnce(usize) -> usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let index = at(bytes.len());
    bytes[index] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

fn cut(path: &Path, keep: impl FnOnce(usize) -> usize) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..keep(bytes.len())]).unwrap();
}

fn assert_damaged(dir: &Path) {
    let error = Storage::open(&support::config(dir)).expect_err("a damaged data dir must not open");
    assert!(matches!(error, OpenError::Damaged { .. }), "{error:?}");
    assert!(error.to_string().contains("regiond rebuild"), "the message names the rebuild command: {error}");
}

/// Every entry the reopened log holds, from the start.
async fn reopened_log(dir: &Path) -> Vec<Entry> {
    let storage = Storage::open(&support::config(dir)).expect("opens");
    let (mut log, _) = support::stores(&storage, GROUP);
    log.try_get_log_entries(..).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_leaves_nothing_in_the_write_ahead_log() {
    let dir = tempfile::tempdir().unwrap();
    let entries = write_and_stop(dir.path()).await;
    let logs = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "log"));
    assert!(logs.map(|log| log.metadata().unwrap().len()).all(|len| len == 0), "the memtables were flushed");
    assert_eq!(reopened_log(dir.path()).await, entries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bit_flip_in_a_table_file_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    write_and_stop(dir.path()).await;
    flip_byte(&largest(dir.path(), "sst"), |len| len / 3);
    assert_damaged(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_file_cut_short_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_and_stop(dir.path()).await;
    cut(&largest(dir.path(), "sst"), |len| len / 2);
    assert_damaged(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bit_flip_in_the_manifest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_and_stop(dir.path()).await;
    let current = std::fs::read_to_string(dir.path().join("CURRENT")).unwrap();
    flip_byte(&dir.path().join(current.trim()), |len| len / 2);
    assert_damaged(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bit_flip_in_a_crashed_write_ahead_log_is_refused() {
    for at in [|len: usize| len / 2, |len: usize| len - 100] {
        let (dir, image) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write_and_crash(dir.path(), image.path()).await;
        flip_byte(&largest(image.path(), "log"), at);
        assert_damaged(image.path());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_image_with_a_cut_last_record_opens_with_a_prefix() {
    let (dir, image) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let entries = write_and_crash(dir.path(), image.path()).await;
    assert_eq!(reopened_log(image.path()).await, entries, "an intact crash image keeps every synced entry");

    let (dir, image) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let entries = write_and_crash(dir.path(), image.path()).await;
    cut(&largest(image.path(), "log"), |len| len - 7);
    let recovered = reopened_log(image.path()).await;
    assert!(!recovered.is_empty() && recovered.len() < entries.len(), "{} of {}", recovered.len(), entries.len());
    assert_eq!(recovered, entries[..recovered.len()], "a prefix of the write order, never other entries");
    drop(dir);
}
