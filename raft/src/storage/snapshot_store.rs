//! A group's stored snapshot: `(meta, group snapshot bytes)` in one record
//! of the `snapshots` column family, replaced atomically and only ever by a
//! newer one.
//!
//! Two writers race for it: the snapshot builder (running beside apply) and
//! `install_snapshot` (a snapshot from the leader). Each compares its last
//! log id with the stored one under one lock and writes only if newer, so a
//! slow build can never overwrite a newer installed snapshot.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rocksdb::{DBCompressionType, IngestExternalFileOptions, SstFileWriter};
use tokio::sync::Mutex;

use crate::group::GroupId;
use crate::storage::Shared;
use crate::storage::background;
use crate::storage::codec::{decode, encode};
use crate::storage::db::{self, ColumnFamily};
use crate::storage::error::StoreError;
use crate::storage::keys::GroupKeys;
use crate::type_config::{LogId, Snapshot, SnapshotMeta};

/// Version byte at the start of a snapshot record.
const RECORD_VERSION: u8 = 1;
/// Version byte and meta length (u32 little-endian).
const HEADER_BYTES: usize = 1 + 4;

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
    key: Vec<u8>,
    /// Where the group's next snapshot is written as a table file before
    /// the database takes it in.
    table_file: PathBuf,
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
        let key = GroupKeys::new(&group).snapshot();
        let snapshot = read_snapshot(&shared, &group, &key)?;
        let stored = Mutex::new(snapshot.as_ref().map(|snapshot| snapshot.meta.clone()));
        let size = StoredSnapshotSize::default();
        size.set(snapshot.as_ref().map_or(0, |snapshot| snapshot.snapshot.len()));
        let table_file = table_file(&shared.dir, &key);
        // Left by a store that a crash cut short: never ingested, so never stored.
        remove_if_present(&table_file)?;
        Ok((Self { shared, group, key, table_file, stored, size }, snapshot))
    }

    /// Reads the stored snapshot.
    pub(crate) fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        read_snapshot(&self.shared, &self.group, &self.key)
    }

    /// Stores `(meta, data)` durably, unless the stored snapshot is at
    /// least as new (by last log id).
    #[tracing::instrument(level = "debug", skip_all, fields(group = %self.group, index = meta.last_log_id.as_ref().map(|id| id.index)))]
    pub(crate) async fn save_if_newer(&self, meta: &SnapshotMeta, data: &[u8]) -> Result<Saved, StoreError> {
        let mut stored = self.stored.lock().await;
        if let Some(current) = stored.as_ref()
            && current.last_log_id >= meta.last_log_id
        {
            tracing::debug!(stored = ?current.last_log_id, "kept the stored snapshot: it is at least as new");
            return Ok(Saved::KeptStored(current.last_log_id));
        }
        let encoded_meta = encode(meta);
        let meta_len = u32::try_from(encoded_meta.len()).expect("a snapshot meta is far below 4 GiB");
        let mut record = Vec::with_capacity(HEADER_BYTES + encoded_meta.len() + data.len());
        record.push(RECORD_VERSION);
        record.extend_from_slice(&meta_len.to_le_bytes());
        record.extend_from_slice(&encoded_meta);
        record.extend_from_slice(data);
        let bytes = record.len();
        let started = Instant::now();
        let (shared, key, file) = (Arc::clone(&self.shared), self.key.clone(), self.table_file.clone());
        let written = background::run("snapshot-store", move || write_table_file(&shared, &key, &record, &file)).await;
        let written_in = started.elapsed();
        // Ingesting holds every write to the database, the log's included,
        // until it is done: at normal priority, so it is never left waiting
        // for the CPU meanwhile (in the idle class it took up to 220 ms
        // under load).
        let (shared, file) = (Arc::clone(&self.shared), self.table_file.clone());
        let outcome = tokio::task::spawn_blocking(move || {
            // Only a panic on the writing thread: nothing was acknowledged, and the node stops.
            let result = written.map_err(|_| StoreError::FlusherStopped).and_then(|written| written);
            let result = result.and_then(|()| ingest(&shared, &file));
            // Taken in (moved) or failed: either way the file is not needed.
            remove_if_present(&file).and(result)
        })
        .await;
        outcome.map_err(|_| StoreError::FlusherStopped)??;
        let ingested_in = started.elapsed() - written_in;
        tracing::info!(bytes, write_ms = written_in.as_millis(), ingest_ms = ingested_in.as_millis(), "stored snapshot");
        *stored = Some(meta.clone());
        self.size.set(data.len());
        Ok(Saved::Written)
    }
}

/// Writes a snapshot record as a table file of its own, synced, for
/// [`ingest`] to move into the database: beside the Raft log, not through
/// it.
///
/// Through the flusher, a record of 50 to 117 MB held the log's write lock
/// while it was copied and made the next WAL sync, which every log append
/// was waiting for, write and sync it too: under load, followers storing
/// one missed the leader's heartbeats for 2 s. Written into the database
/// and flushed, it was copied into a memtable and compressed by RocksDB's
/// flush thread at full priority: a second of a core, taken from the write
/// path. Written this way, the copy runs on the caller's thread (in the
/// idle scheduling class). If the node stops before the file is taken in,
/// the previous record stays, as nothing reported this one stored, and the
/// file is removed at the next start. Runs under the disk-fault hooks like
/// a WAL sync.
fn write_table_file(shared: &Shared, key: &[u8], record: &[u8], file: &Path) -> Result<(), StoreError> {
    shared.disk_faults.sync(|| {
        let mut options = db::options();
        // Uncompressed: compressing 100 MB in one piece is most of a second
        // of a core that nothing can pace; the disk takes twice the bytes.
        options.set_compression_type(DBCompressionType::None);
        let mut writer = SstFileWriter::create(&options);
        writer.open(file)?;
        writer.put(key, record)?;
        // Syncs the file.
        writer.finish()?;
        Ok(())
    })
}

/// Moves a written table file into the `snapshots` column family: RocksDB
/// syncs the file, its directory and the manifest, and the record replaces
/// the stored one atomically.
fn ingest(shared: &Shared, file: &Path) -> Result<(), StoreError> {
    let db = &shared.db;
    let mut ingest = IngestExternalFileOptions::default();
    ingest.set_move_files(true);
    db.ingest_external_file_cf_opts(ColumnFamily::Snapshots.handle(db), &ingest, vec![file])?;
    Ok(())
}

/// The table file a group's snapshot is written to before it is ingested:
/// in the data dir (the same file system, so ingesting moves it), named by
/// the group's key, so stores of different groups never share one.
fn table_file(data_dir: &Path, key: &[u8]) -> PathBuf {
    let name = blake3::hash(key).to_hex();
    data_dir.join(format!("snapshot-{}.sst.tmp", &name[..16]))
}

fn remove_if_present(file: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(file) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(StoreError::File { path: file.to_owned(), detail: error.to_string() }),
    }
}

/// Reads and decodes a stored snapshot record: version byte, meta length
/// (u32 little-endian), the meta, then the group snapshot's bytes (see
/// `group_snapshot`; checked by whoever restores them).
fn read_snapshot(shared: &Shared, group: &GroupId, key: &[u8]) -> Result<Option<Snapshot>, StoreError> {
    let db = &shared.db;
    let Some(record) = db.get_pinned_cf(ColumnFamily::Snapshots.handle(db), key)? else {
        return Ok(None);
    };
    let corrupt = |detail: String| StoreError::Corrupt { what: "snapshot record", group: group.clone(), detail };
    let Some((&version, rest)) = record.split_first() else {
        return Err(corrupt("empty".into()));
    };
    if version != RECORD_VERSION {
        return Err(corrupt(format!("record version {version}, expected {RECORD_VERSION}")));
    }
    let (meta_len, rest) = rest.split_first_chunk::<4>().ok_or_else(|| corrupt("cut short".into()))?;
    let meta_len = usize::try_from(u32::from_le_bytes(*meta_len)).expect("u32 fits in usize");
    if rest.len() < meta_len {
        return Err(corrupt(format!("meta of {meta_len} bytes in {} remaining", rest.len())));
    }
    let (meta, data) = rest.split_at(meta_len);
    Ok(Some(Snapshot { meta: decode("snapshot meta", group, meta)?, snapshot: data.to_vec() }))
}

#[cfg(test)]
mod tests {
    use openraft::impls::leader_id_adv::LeaderId;

    use super::*;
    use crate::storage::{DiskFaultConfig, IfMissing, NodeIdentity, Storage, StorageConfig};

    fn meta(index: u64) -> SnapshotMeta {
        SnapshotMeta { last_log_id: Some(LogId::new(LeaderId { term: 1, node_id: 1 }, index)), ..Default::default() }
    }

    #[tokio::test]
    async fn the_stored_snapshot_only_moves_forward() {
        let dir = tempfile::tempdir().unwrap();
        let identity = NodeIdentity { cluster_id: "c".into(), node_id: 1 };
        let config = StorageConfig { data_dir: dir.path().into(), identity, if_missing: IfMissing::Create };
        let storage = Storage::open(&config).unwrap();
        let (store, stored) = SnapshotStore::open(Arc::clone(&storage.shared), GroupId::new("g").unwrap()).unwrap();
        assert!(stored.is_none());

        // A build that cloned the state at 10 finishing after an install at
        // 30 must not replace it; the same position is not rewritten.
        assert_eq!(store.save_if_newer(&meta(30), b"at 30").await.unwrap(), Saved::Written);
        assert_eq!(store.save_if_newer(&meta(10), b"at 10").await.unwrap(), Saved::KeptStored(meta(30).last_log_id));
        assert_eq!(store.save_if_newer(&meta(30), b"again").await.unwrap(), Saved::KeptStored(meta(30).last_log_id));
        let loaded = store.load().unwrap().unwrap();
        assert_eq!((loaded.meta, loaded.snapshot.as_slice()), (meta(30), b"at 30".as_slice()));

        assert_eq!(store.save_if_newer(&meta(40), b"at 40").await.unwrap(), Saved::Written);
        let (_, reopened) = SnapshotStore::open(Arc::clone(&storage.shared), GroupId::new("g").unwrap()).unwrap();
        assert_eq!(reopened.unwrap().meta, meta(40));
    }

    fn open_store(dir: &std::path::Path) -> (Storage, SnapshotStore) {
        let identity = NodeIdentity { cluster_id: "c".into(), node_id: 1 };
        let config = StorageConfig { data_dir: dir.into(), identity, if_missing: IfMissing::Create };
        let storage = Storage::open(&config).unwrap();
        let (store, _) = SnapshotStore::open(Arc::clone(&storage.shared), GroupId::new("g").unwrap()).unwrap();
        (storage, store)
    }

    #[tokio::test]
    async fn a_stored_record_is_in_a_table_file_not_in_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, store) = open_store(dir.path());
        let table_files = || {
            let files = storage.shared.db.live_files().unwrap();
            files.into_iter().filter(|file| file.column_family_name == "snapshots").count()
        };
        for index in [7, 8] {
            store.save_if_newer(&meta(index), &vec![index as u8; 1 << 20]).await.unwrap();
            let db = &storage.shared.db;
            let in_memtable =
                db.property_int_value_cf(ColumnFamily::Snapshots.handle(db), "rocksdb.num-entries-active-mem-table");
            assert_eq!(in_memtable.unwrap(), Some(0), "never through a memtable");
            assert!(table_files() >= 1);
            assert!(!store.table_file.exists(), "the written file was moved in");
            assert_eq!(store.load().unwrap().unwrap().snapshot[0], index as u8, "the newer record is read");
        }
    }

    #[tokio::test]
    async fn a_table_file_left_by_a_crash_is_removed_and_the_stored_record_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, store) = open_store(dir.path());
        store.save_if_newer(&meta(3), b"at 3").await.unwrap();
        std::fs::write(&store.table_file, b"half a table file").unwrap();
        drop(store);
        let (reopened, stored) = SnapshotStore::open(Arc::clone(&storage.shared), GroupId::new("g").unwrap()).unwrap();
        assert!(!reopened.table_file.exists());
        assert_eq!(stored.unwrap().snapshot, b"at 3");
    }

    #[tokio::test]
    async fn a_failing_disk_fails_the_save_and_keeps_the_stored_record() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, store) = open_store(dir.path());
        store.save_if_newer(&meta(5), b"at 5").await.unwrap();
        storage.disk_faults().set(DiskFaultConfig { fsync_fail: true, ..DiskFaultConfig::default() });
        let failed = store.save_if_newer(&meta(9), b"at 9").await;
        assert!(matches!(failed, Err(StoreError::SyncFailed)), "{failed:?}");
        assert_eq!(store.load().unwrap().unwrap().meta, meta(5));
    }
}
