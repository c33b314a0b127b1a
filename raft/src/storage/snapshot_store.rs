//! A group's stored snapshot: one file in the data dir's `snapshots`
//! directory, replaced atomically and only ever by a newer one.
//!
//! Two writers race for it: the snapshot builder (running beside apply) and
//! `install_snapshot` (a snapshot from the leader). Each compares its last
//! log id with the stored one under one lock and writes only if newer, so a
//! slow build can never overwrite a newer installed snapshot.
//!
//! The file sits beside the database, not in it, so storing a snapshot
//! never holds up the Raft log's writes. In the database it did, however
//! it got there: through the flusher, a record of 50 to 117 MB held the
//! log's write lock while it was copied and made the next WAL sync, which
//! every log append waited for, write and sync it too (followers missed
//! heartbeats for 2 s); written as a table file and ingested, the ingest
//! stopped every write to the database while RocksDB synced its manifest,
//! 57 to 220 ms a snapshot in 90 s runs at 15,000 reservations/s, and the
//! slowest calls of those runs fell on them.
//!
//! File layout: magic, version byte, then length-prefixed (u32
//! little-endian) the group id and the encoded meta, then the group
//! snapshot's bytes (length u64 little-endian), then the XXH3-128 of
//! everything before it. It is written to a temporary file in pieces,
//! each synced and followed by a pause ([`DutyCycle`]), so the disk
//! writes it back in steps, not all at once in front of the next WAL
//! sync; then the file is renamed over the stored one and the directory
//! synced. A crash leaves the old file or the new one whole; a leftover
//! temporary file is removed at open.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::Mutex;
use xxhash_rust::xxh3::Xxh3;

use crate::group::GroupId;
use crate::storage::Shared;
use crate::storage::background::{self, DutyCycle};
use crate::storage::codec::{decode, encode};
use crate::storage::disk_metrics::DiskMetrics;
use crate::storage::error::StoreError;
use crate::type_config::{LogId, Snapshot, SnapshotMeta};

/// First bytes of a snapshot file.
const MAGIC: &[u8; 4] = b"ILSF";
/// Version byte after the magic.
const FILE_VERSION: u8 = 1;
/// Bytes of the trailing checksum.
const CHECKSUM_BYTES: usize = 16;
/// A snapshot file is written and synced this many bytes at a time.
const PIECE_BYTES: usize = 4 << 20;
/// The data dir's subdirectory holding every group's snapshot file.
const DIRECTORY: &str = "snapshots";

/// What [`SnapshotStore::save_if_newer`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Saved {
    /// The snapshot is now the stored one, durably.
    Written,
    /// The stored snapshot is at least as new and was kept; its last log id.
    KeptStored(Option<LogId>),
}

/// The size of a group's stored snapshot (its group snapshot bytes, 0
/// while there is none), readable while openraft owns the state machine;
/// the snapshot schedule paces snapshots by it. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct StoredSnapshotSize(Arc<AtomicU64>);

impl StoredSnapshotSize {
    /// The stored snapshot's size in bytes.
    pub fn bytes(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, bytes: usize) {
        self.0.store(u64::try_from(bytes).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// One group's stored snapshot.
pub(crate) struct SnapshotStore {
    shared: Arc<Shared>,
    group: GroupId,
    /// The group's snapshot file.
    path: PathBuf,
    /// Where the next one is written before it replaces it.
    temporary: PathBuf,
    /// The meta of the stored snapshot, if any. Writers hold this lock
    /// across compare and write, which is what keeps the stored snapshot
    /// moving forward only.
    stored: Mutex<Option<SnapshotMeta>>,
    /// The stored snapshot's size, shared with the snapshot schedule and
    /// the builder (which sizes its buffer by it).
    pub(crate) size: StoredSnapshotSize,
}

impl SnapshotStore {
    /// Opens the group's snapshot store and reads the stored snapshot, if any.
    pub(crate) fn open(shared: Arc<Shared>, group: GroupId) -> Result<(Self, Option<Snapshot>), StoreError> {
        let directory = shared.dir.join(DIRECTORY);
        create_directory(&directory)?;
        let path = directory.join(file_name(&group));
        let temporary = path.with_extension("snapshot.tmp");
        // Left by a store that a crash cut short: never renamed, so never stored.
        remove_if_present(&temporary)?;
        let store =
            Self { shared, group, path, temporary, stored: Mutex::new(None), size: StoredSnapshotSize::default() };
        let snapshot = store.load()?;
        *store.stored.try_lock().expect("not shared yet") = snapshot.as_ref().map(|snapshot| snapshot.meta.clone());
        store.size.set(snapshot.as_ref().map_or(0, |snapshot| snapshot.snapshot.len()));
        Ok((store, snapshot))
    }

    /// Reads the stored snapshot, checking its file whole.
    pub(crate) fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(file_error(&self.path, "read", &error)),
        };
        parse_file(&self.group, bytes).map(Some)
    }

    /// The storage's disk timings, which builds of this group's snapshots add to.
    pub(crate) fn disk_metrics(&self) -> &DiskMetrics {
        &self.shared.disk_metrics
    }

    /// Stores `(meta, data)` durably, unless the stored snapshot is at
    /// least as new (by last log id). Hands `data` back either way: it is
    /// 100 MB at a few hundred thousand holds, and the writing thread
    /// needs it for itself meanwhile.
    #[tracing::instrument(level = "debug", skip_all, fields(group = %self.group, index = meta.last_log_id.as_ref().map(|id| id.index)))]
    pub(crate) async fn save_if_newer(
        &self,
        meta: &SnapshotMeta,
        data: Vec<u8>,
    ) -> Result<(Saved, Vec<u8>), StoreError> {
        let mut stored = self.stored.lock().await;
        if let Some(current) = stored.as_ref()
            && current.last_log_id >= meta.last_log_id
        {
            tracing::debug!(stored = ?current.last_log_id, "kept the stored snapshot: it is at least as new");
            return Ok((Saved::KeptStored(current.last_log_id), data));
        }
        let started = Instant::now();
        let header = file_header(&self.group, meta, data.len());
        let (shared, path, temporary) = (Arc::clone(&self.shared), self.path.clone(), self.temporary.clone());
        let (written, data) = background::run("snapshot-store", move || {
            let written = shared.disk_faults.sync(|| write_file(&temporary, &header, &data, &path));
            // Renamed or failed: either way no temporary file is left.
            (remove_if_present(&temporary).and(written), data)
        })
        .await
        // Only a panic on the thread: nothing was acknowledged, and the node stops.
        .map_err(|_| StoreError::FlusherStopped)?;
        written?;
        tracing::info!(bytes = data.len(), took_ms = started.elapsed().as_millis(), "stored snapshot");
        *stored = Some(meta.clone());
        self.size.set(data.len());
        Ok((Saved::Written, data))
    }
}

/// The group's file name: its id, readable, with every character but
/// ASCII letters, digits, `-` and `_` replaced, then a hash of the id, so
/// no two groups share a file.
fn file_name(group: &GroupId) -> String {
    let id = group.as_str();
    let readable: String =
        id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    let hash = blake3::hash(id.as_bytes()).to_hex();
    format!("{readable}-{}.snapshot", &hash[..16])
}

/// Everything a snapshot file holds before the group snapshot's bytes.
fn file_header(group: &GroupId, meta: &SnapshotMeta, data_len: usize) -> Vec<u8> {
    let meta = encode(meta);
    let mut header = MAGIC.to_vec();
    header.push(FILE_VERSION);
    for field in [group.as_str().as_bytes(), &meta] {
        let len = u32::try_from(field.len()).expect("a group id and a snapshot meta are far below 4 GiB");
        header.extend_from_slice(&len.to_le_bytes());
        header.extend_from_slice(field);
    }
    header.extend_from_slice(&(data_len as u64).to_le_bytes());
    header
}

/// Writes `header ++ data ++ checksum` to `temporary` a piece at a time,
/// each piece synced and followed by a pause, then renames it to `path`
/// and syncs the directory.
fn write_file(temporary: &Path, header: &[u8], data: &[u8], path: &Path) -> Result<(), StoreError> {
    let failed = |error: std::io::Error| file_error(temporary, "write", &error);
    let mut file = File::create(temporary).map_err(failed)?;
    let mut checksum = Xxh3::new();
    let mut duty = DutyCycle::new();
    checksum.update(header);
    file.write_all(header).map_err(failed)?;
    for piece in data.chunks(PIECE_BYTES) {
        checksum.update(piece);
        file.write_all(piece).map_err(failed)?;
        file.sync_data().map_err(failed)?;
        duty.pause();
    }
    file.write_all(&checksum.digest128().to_le_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    drop(file);
    std::fs::rename(temporary, path).map_err(|error| file_error(path, "rename into", &error))?;
    sync_directory(path.parent().expect("a snapshot file is in a directory"))
}

/// A snapshot file's contents, checked: its checksum, its layout, its
/// group. The snapshot's bytes are the file's buffer with the rest cut
/// away: a snapshot is 100 MB, and a copy would hold it twice.
fn parse_file(group: &GroupId, mut bytes: Vec<u8>) -> Result<Snapshot, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt { what: "snapshot file", group: group.clone(), detail };
    let (content, checksum) = bytes.split_at(bytes.len().saturating_sub(CHECKSUM_BYTES));
    if checksum.len() != CHECKSUM_BYTES || xxhash_rust::xxh3::xxh3_128(content).to_le_bytes() != checksum {
        return Err(corrupt("checksum mismatch: the file is damaged or cut short".into()));
    }
    let rest = content.strip_prefix(MAGIC.as_slice()).ok_or_else(|| corrupt("not a snapshot file".into()))?;
    let (&version, rest) = rest.split_first().ok_or_else(|| corrupt("cut short".into()))?;
    if version != FILE_VERSION {
        return Err(corrupt(format!("file version {version}, expected {FILE_VERSION}")));
    }
    let (stored_group, rest) = length_prefixed(rest).ok_or_else(|| corrupt("cut short".into()))?;
    if stored_group != group.as_str().as_bytes() {
        return Err(corrupt(format!("it holds group {:?}", String::from_utf8_lossy(stored_group))));
    }
    let (meta, rest) = length_prefixed(rest).ok_or_else(|| corrupt("cut short".into()))?;
    let (data_len, data) = rest.split_first_chunk::<8>().ok_or_else(|| corrupt("cut short".into()))?;
    if u64::from_le_bytes(*data_len) != data.len() as u64 {
        return Err(corrupt(format!("{} bytes of data, {} recorded", data.len(), u64::from_le_bytes(*data_len))));
    }
    let meta = decode("snapshot meta", group, meta)?;
    let data_starts = bytes.len() - CHECKSUM_BYTES - data.len();
    bytes.truncate(bytes.len() - CHECKSUM_BYTES);
    bytes.drain(..data_starts);
    Ok(Snapshot { meta, snapshot: bytes })
}

/// A u32-little-endian-length-prefixed field and what follows it.
fn length_prefixed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    rest.split_at_checked(usize::try_from(u32::from_le_bytes(*len)).ok()?)
}

/// Creates the snapshots directory if it is missing, durably.
fn create_directory(directory: &Path) -> Result<(), StoreError> {
    if directory.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(directory).map_err(|error| file_error(directory, "create", &error))?;
    sync_directory(directory.parent().expect("the snapshots directory is in the data dir"))
}

/// Syncs a directory, so a file created or renamed in it stays.
fn sync_directory(directory: &Path) -> Result<(), StoreError> {
    File::open(directory).and_then(|dir| dir.sync_all()).map_err(|error| file_error(directory, "sync", &error))
}

fn remove_if_present(file: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(file) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(file_error(file, "remove", &error)),
    }
}

fn file_error(path: &Path, action: &str, error: &std::io::Error) -> StoreError {
    StoreError::File { path: path.to_owned(), detail: format!("cannot {action} it: {error}") }
}
#[cfg(test)]
mod tests {
    use openraft::impls::leader_id_adv::LeaderId;

    use super::*;
    use crate::storage::{DiskFaultConfig, IfMissing, NodeIdentity, Storage, StorageConfig};

    fn meta(index: u64) -> SnapshotMeta {
        SnapshotMeta { last_log_id: Some(LogId::new(LeaderId { term: 1, node_id: 1 }, index)), ..Default::default() }
    }

    fn open_storage(dir: &Path) -> Storage {
        let identity = NodeIdentity { cluster_id: "c".into(), node_id: 1 };
        Storage::open(&StorageConfig { data_dir: dir.into(), identity, if_missing: IfMissing::Create }).unwrap()
    }

    fn open_store(storage: &Storage, group: &str) -> (SnapshotStore, Option<Snapshot>) {
        SnapshotStore::open(Arc::clone(&storage.shared), GroupId::new(group).unwrap()).unwrap()
    }

    async fn save(store: &SnapshotStore, index: u64, data: &[u8]) -> Saved {
        let (saved, back) = store.save_if_newer(&meta(index), data.to_vec()).await.unwrap();
        assert_eq!(back, data, "the bytes are handed back");
        saved
    }

    #[tokio::test]
    async fn the_stored_snapshot_only_moves_forward() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open_storage(dir.path());
        let (store, stored) = open_store(&storage, "g");
        assert!(stored.is_none());

        // A build that cloned the state at 10 finishing after an install at
        // 30 must not replace it; the same position is not rewritten.
        assert_eq!(save(&store, 30, b"at 30").await, Saved::Written);
        assert_eq!(save(&store, 10, b"at 10").await, Saved::KeptStored(meta(30).last_log_id));
        assert_eq!(save(&store, 30, b"again").await, Saved::KeptStored(meta(30).last_log_id));
        let loaded = store.load().unwrap().unwrap();
        assert_eq!((loaded.meta, loaded.snapshot.as_slice()), (meta(30), b"at 30".as_slice()));

        assert_eq!(save(&store, 40, b"at 40").await, Saved::Written);
        assert_eq!(store.size.bytes(), 5);
        let (reopened, stored) = open_store(&storage, "g");
        assert_eq!(stored.unwrap().meta, meta(40));
        assert_eq!(reopened.size.bytes(), 5);
    }

    #[tokio::test]
    async fn a_snapshot_is_a_file_of_its_own_and_the_database_is_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open_storage(dir.path());
        let sequence = storage.shared.db.latest_sequence_number();
        let (store, _) = open_store(&storage, "region/eu-west");
        let (other, _) = open_store(&storage, "region/eu-west-1");
        // Several pieces, so the file is written and synced in steps.
        let big: Vec<u8> = (0..PIECE_BYTES * 2 + 7).map(|i| (i % 253) as u8).collect();
        assert_eq!(save(&store, 7, &big).await, Saved::Written);
        assert_eq!(save(&other, 9, b"other group").await, Saved::Written);
        assert_eq!(storage.shared.db.latest_sequence_number(), sequence, "nothing went through the database");
        assert!(store.path.starts_with(dir.path().join(DIRECTORY)), "{}", store.path.display());
        assert_ne!(store.path, other.path);
        assert!(store.path.file_name().unwrap().to_str().unwrap().starts_with("region_eu-west-"));
        assert!(!store.temporary.exists(), "the written file was renamed");
        assert_eq!(store.load().unwrap().unwrap().snapshot, big);
        assert_eq!(other.load().unwrap().unwrap().snapshot, b"other group");
    }

    #[tokio::test]
    async fn a_temporary_file_left_by_a_crash_is_removed_and_the_stored_snapshot_kept() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open_storage(dir.path());
        let (store, _) = open_store(&storage, "g");
        save(&store, 3, b"at 3").await;
        std::fs::write(&store.temporary, b"half a snapshot").unwrap();
        drop(store);
        let (reopened, stored) = open_store(&storage, "g");
        assert!(!reopened.temporary.exists());
        assert_eq!(stored.unwrap().snapshot, b"at 3");
    }

    #[tokio::test]
    async fn a_damaged_file_or_another_groups_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open_storage(dir.path());
        let (store, _) = open_store(&storage, "g");
        save(&store, 3, &[5; 1000]).await;
        let intact = std::fs::read(&store.path).unwrap();
        let group = GroupId::new("g").unwrap();
        let refused = |bytes: &[u8]| match parse_file(&group, bytes.to_vec()) {
            Err(StoreError::Corrupt { what: "snapshot file", detail, .. }) => detail,
            other => panic!("not refused: {other:?}"),
        };
        for at in [0, 5, intact.len() / 2, intact.len() - 1] {
            let mut damaged = intact.clone();
            damaged[at] ^= 0x20;
            assert!(refused(&damaged).contains("checksum"), "byte {at}");
        }
        assert!(refused(&intact[..intact.len() - 100]).contains("checksum"));
        assert!(refused(&intact[..3]).contains("checksum"));
        // A file copied from another group's name, checksum and all.
        let (other, _) = open_store(&storage, "h");
        save(&other, 4, b"h's").await;
        std::fs::copy(&other.path, &store.path).unwrap();
        let error = store.load().unwrap_err();
        assert!(error.to_string().contains("holds group \"h\""), "{error}");
    }

    #[tokio::test]
    async fn a_failing_disk_fails_the_save_and_keeps_the_stored_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open_storage(dir.path());
        let (store, _) = open_store(&storage, "g");
        save(&store, 5, b"at 5").await;
        storage.disk_faults().set(DiskFaultConfig { fsync_fail: true, ..DiskFaultConfig::default() });
        let failed = store.save_if_newer(&meta(9), b"at 9".to_vec()).await;
        assert!(matches!(failed, Err(StoreError::SyncFailed)), "{failed:?}");
        assert_eq!(store.load().unwrap().unwrap().meta, meta(5));
        assert_eq!(store.size.bytes(), 4);
    }
}
