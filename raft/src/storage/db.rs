//! The process-wide RocksDB: its column families, how it is opened, and the
//! identity record that stops a node from starting on another node's data.
//!
//! One database serves every group the process hosts, with three column
//! families (`logs`, `meta`, `snapshots`) whose keys are prefixed by group
//! (see `keys`). Column families are never created per group: creating
//! them is slow, and one database means one write-ahead log, so one fsync
//! makes every group's writes durable.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{
    ColumnFamilyDescriptor, DB, DBCompressionType, DBRecoveryMode, Env, IteratorMode, Options, WriteOptions,
};
use serde::{Deserialize, Serialize};

use crate::storage::keys;
use crate::storage::witness::Witness;

/// The version of the on-disk layout this build reads and writes. 4: the
/// stored snapshots hold the ledger's snapshot format 2 (the retention
/// history in the order it was made), where 3 held format 1. 3: each
/// group's snapshot is a file in the data dir's `snapshots` directory,
/// where 2 kept it in a `snapshots` column family. 2: a stored snapshot is
/// a `GroupSnapshot` (a header with the highest node id used, then the
/// ledger's bytes), where 1 stored the ledger's bytes alone.
const FORMAT_VERSION: u32 = 4;
/// What an operator does about a replica whose data cannot be trusted.
const REBUILD: &str = "Rebuild it from its peers under a new node id: `regiond rebuild --config <this node's config> --new-node-id <unused id>` (see the README)";
/// First bytes of the identity record, so random bytes are never mistaken for one.
const IDENTITY_MAGIC: &[u8; 4] = b"ILID";

/// The shared column families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ColumnFamily {
    /// Log entries: `group ++ index`.
    Logs,
    /// Small per-group records (vote, committed, last purged) and the identity record.
    Meta,
}

impl ColumnFamily {
    const ALL: [ColumnFamily; 2] = [ColumnFamily::Logs, ColumnFamily::Meta];

    fn name(self) -> &'static str {
        match self {
            ColumnFamily::Logs => "logs",
            ColumnFamily::Meta => "meta",
        }
    }

    /// The column family's handle in `db`.
    pub(crate) fn handle(self, db: &DB) -> &rocksdb::ColumnFamily {
        db.cf_handle(self.name()).expect("every column family is created when the database is opened")
    }
}

/// Who a data dir belongs to. Stored on first open; every later open must
/// present the same, so a node never starts on another node's (or another
/// cluster's) data and joins with the wrong state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeIdentity {
    /// The cluster's name, chosen at bootstrap.
    pub cluster_id: String,
    /// This node's Raft node id (the same in every group it hosts).
    pub node_id: u64,
}

/// What opening does when the data dir holds no database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfMissing {
    /// Create the database and stamp it with the identity: a new node
    /// (bootstrapping a group or joining one).
    Create,
    /// Refuse with [`OpenError::Missing`]: a restart, where a missing
    /// database means the wrong path or lost data, never "start empty".
    Refuse,
}

/// Why the data dir could not be opened. The node must not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The identity names no cluster.
    #[error("the cluster id is empty; configure the cluster's name")]
    EmptyClusterId,
    /// No database where one was required.
    #[error(
        "no database in data dir {}; start the node with its existing data dir, or create one deliberately (bootstrap or join)",
        .path.display()
    )]
    Missing {
        /// The data dir.
        path: PathBuf,
    },
    /// A data file is damaged (a checksum or size does not match, or the
    /// database holds less than its witness says it had): the replica
    /// cannot vouch for its state and must be rebuilt from its peers.
    #[error(
        "the data in {} is damaged ({detail}); this replica refuses to serve it. {REBUILD}",
        .path.display()
    )]
    Damaged {
        /// The data dir.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// The witness file could not be written.
    #[error("cannot write the witness file in {}: {source}", .path.display())]
    Witness {
        /// The data dir.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// RocksDB could not open the directory: it is locked, or unreadable.
    #[error(
        "cannot open the database in {}: {source}. If another process uses this data dir, stop it; if its files are missing or damaged, rebuild this replica from its peers: `regiond rebuild --config <this node's config> --new-node-id <unused id>` (see the README)",
        .path.display()
    )]
    RocksDb {
        /// The data dir.
        path: PathBuf,
        /// RocksDB's reason.
        source: rocksdb::Error,
    },
    /// The data dir belongs to another cluster.
    #[error(
        "data dir {} belongs to cluster {found:?}, not {expected:?}: point this node at its own data dir",
        .path.display()
    )]
    WrongCluster {
        /// The data dir.
        path: PathBuf,
        /// The cluster this node was started for.
        expected: String,
        /// The cluster the data dir belongs to.
        found: String,
    },
    /// The data dir belongs to another node of this cluster.
    #[error(
        "data dir {} belongs to node {found}, not node {expected}: each node needs its own data dir; start node {found} on it, or give node {expected} its own",
        .path.display()
    )]
    WrongNode {
        /// The data dir.
        path: PathBuf,
        /// The node id this node was started with.
        expected: u64,
        /// The node id the data dir belongs to.
        found: u64,
    },
    /// The identity record is unreadable.
    #[error(
        "data dir {} has a damaged identity record ({detail}); it cannot be trusted: wipe it and let the node rejoin under a new node id",
        .path.display()
    )]
    CorruptIdentity {
        /// The data dir.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The database holds data but no identity record.
    #[error(
        "data dir {} holds data but no identity record: it was not written by this software or is damaged; wipe it and let the node rejoin under a new node id",
        .path.display()
    )]
    NoIdentity {
        /// The data dir.
        path: PathBuf,
    },
    /// The data dir was written by a build with another on-disk format.
    #[error(
        "data dir {} uses storage format {found}; this build reads format {FORMAT_VERSION}: run a matching build",
        .path.display()
    )]
    UnsupportedFormat {
        /// The data dir.
        path: PathBuf,
        /// The format found.
        found: u32,
    },
    /// A group's stored snapshot does not restore (see [`crate::Storage::state_machine`]).
    #[error("the stored snapshot of group {group} is damaged ({source}); this replica refuses to serve it. {REBUILD}")]
    CorruptSnapshot {
        /// The group.
        group: crate::GroupId,
        /// Why it does not restore.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A group's log is purged past its stored snapshot: its snapshot file
    /// was lost or replaced by an older one, and with it entries this node
    /// acknowledged.
    #[error(
        "the log of group {group} is purged up to index {purged}, but its stored snapshot reaches {}: the data dir lost its snapshot file (or got an older one), and with it acknowledged entries. {REBUILD}",
        .snapshot.map_or_else(|| "nothing (there is none)".to_owned(), |index| format!("only index {index}"))
    )]
    SnapshotMissing {
        /// The group.
        group: crate::GroupId,
        /// The last purged index.
        purged: u64,
        /// The stored snapshot's last index, if there is one.
        snapshot: Option<u64>,
    },
    /// A group's stored snapshot holds another region's ledger.
    #[error(
        "the stored snapshot of group {group} holds region {found:?}, not {expected:?}: the group is configured with the wrong region, or the data dir is another deployment's"
    )]
    ForeignSnapshot {
        /// The group.
        group: crate::GroupId,
        /// The region the group was opened for.
        expected: String,
        /// The region in the snapshot.
        found: String,
    },
    /// The stored state could not be read.
    #[error("cannot read the stored state: {0}")]
    Read(#[source] crate::storage::StoreError),
    /// The flusher's syncer thread could not be started.
    #[error("cannot start the storage flusher's syncer thread: {0}")]
    Threads(#[source] std::io::Error),
}

/// Opens (or creates) the database in `path` and checks that it belongs to `identity`.
pub(crate) fn open(path: &Path, identity: &NodeIdentity, if_missing: IfMissing) -> Result<Arc<DB>, OpenError> {
    if identity.cluster_id.is_empty() {
        return Err(OpenError::EmptyClusterId);
    }
    let exists = path.join("CURRENT").is_file();
    if !exists && if_missing == IfMissing::Refuse {
        return Err(OpenError::Missing { path: path.to_owned() });
    }
    let damaged = |detail: String| OpenError::Damaged { path: path.to_owned(), detail };
    let rocks = |source: rocksdb::Error| match source.kind() {
        rocksdb::ErrorKind::Corruption => damaged(source.to_string()),
        _ => OpenError::RocksDb { path: path.to_owned(), source },
    };
    let options = options(identity.node_id);
    // Every column family the database has, ours and any an older format
    // had (RocksDB opens a database only with all of them), so that such a
    // data dir is refused by the format check with a clear message.
    let mut names: Vec<String> = ColumnFamily::ALL.iter().map(|cf| cf.name().to_owned()).collect();
    if exists {
        for name in DB::list_cf(&options, path).map_err(rocks)? {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let families = names.into_iter().map(|name| ColumnFamilyDescriptor::new(name, options.clone()));
    let db = DB::open_cf_descriptors(&options, path, families).map_err(rocks)?;
    verify_every_block(&db).map_err(rocks)?;
    // Before the identity check, which would stamp a database found empty.
    if let Some(recorded) = Witness::read(path).map_err(damaged)?
        && let Some(why) = Witness::of(&db).map_err(damaged)?.shortfall(&recorded)
    {
        return Err(damaged(format!("{why} (per the witness of its last start or clean stop)")));
    }
    let meta = ColumnFamily::Meta.handle(&db);
    match db.get_cf(meta, keys::IDENTITY).map_err(rocks)? {
        Some(record) => check_identity(path, identity, &record)?,
        None if is_empty(&db).map_err(rocks)? && if_missing == IfMissing::Create => {
            // magic ++ format version (u32 little-endian) ++ postcard(identity):
            // the version is readable whatever a later format does to the rest.
            let mut record = IDENTITY_MAGIC.to_vec();
            record.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            record.extend(postcard::to_stdvec(identity).expect("encoding into memory cannot fail"));
            let mut sync = WriteOptions::default();
            sync.set_sync(true);
            db.put_cf_opt(meta, keys::IDENTITY, &record, &sync).map_err(rocks)?;
            tracing::info!(path = %path.display(), cluster_id = %identity.cluster_id, node_id = identity.node_id, "created data dir");
        }
        None => return Err(OpenError::NoIdentity { path: path.to_owned() }),
    }
    Witness::of(&db)
        .map_err(damaged)?
        .write(path)
        .map_err(|source| OpenError::Witness { path: path.to_owned(), source })?;
    Ok(Arc::new(db))
}

/// The database's options for node `node_id`.
fn options(node_id: u64) -> Options {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    // After a crash, recover the write-ahead log up to an incomplete last
    // record (a write the crash cut, never acknowledged), and refuse any
    // record whose checksum fails: the disk then holds a prefix of the
    // write order, which the flusher's ordering argument relies on, and
    // never less than what was acknowledged without a damage report.
    options.set_wal_recovery_mode(DBRecoveryMode::TolerateCorruptedTailRecords);
    // A synced, closed write-ahead log that went missing or shrank is
    // damage too.
    options.set_track_and_verify_wals_in_manifest(true);
    // Writes fill RocksDB's write-ahead-log buffer without a `write(2)`
    // each; the flusher's syncer writes and syncs it in one `FlushWAL(sync)`.
    // Nothing is acknowledged before that sync, and the log stays one write
    // order, so a crash still leaves a prefix of it; a process crash now
    // also drops unsynced writes, which an OS crash could always drop.
    options.set_manual_wal_flush(true);
    // lz4 is the only codec compiled in (see the workspace Cargo.toml).
    // Levels 0 and 1 stay uncompressed (TiKV's setting for its Raft log):
    // the log is purged soon after it is flushed, and compressing every
    // memtable flush cost each replica a CPU spike, all replicas at once
    // (they flush at the same log size).
    let (plain, lz4) = (DBCompressionType::None, DBCompressionType::Lz4);
    options.set_compression_per_level(&[plain, plain, lz4, lz4, lz4, lz4, lz4]);
    // Flushes and compactions run at the lowest CPU priority: the write
    // path comes first, and a second memtable takes writes meanwhile.
    match Env::new() {
        Ok(mut env) => {
            env.lower_high_priority_thread_pool_cpu_priority();
            env.lower_thread_pool_cpu_priority();
            options.set_env(&env);
        }
        Err(error) => tracing::warn!(%error, "flushes and compactions keep the default CPU priority"),
    }
    // Table files (memtable flushes, compactions) go to the disk a MiB at a
    // time as they are written, not in one sync at the end: a flush's
    // 60 MB sync queued every replica's WAL syncs behind it (the slowest
    // call of `bench --duration 180 --rate 15000` rose to 126-216 ms at
    // each flush). RocksDB's own advice, and TiKV's setting.
    options.set_bytes_per_sync(1 << 20);
    // And at most 16 MiB/s of them: when every replica flushed its 64 MiB
    // memtable at the same log size, a flush at full speed still made the
    // slowest call of a 180 s run at 15,000/s 220-227 ms, both times exactly
    // while it ran (1.3 s). The log fills a memtable at 1-2 MB/s under that
    // load, so a flush spread over 4 s is long done before the next.
    options.set_ratelimiter(FLUSH_BYTES_PER_SEC, 100_000, 10);
    // Each node's memtables hold a different size, so the replicas of a
    // group, which write the same log, flush at different moments rather
    // than all at once (then every replica's WAL syncs wait together).
    options.set_write_buffer_size(memtable_bytes(node_id));
    options
}

/// The memtable size of node `node_id`: 48 MiB plus its golden-ratio
/// fraction of 32 MiB (for nodes 1, 2, 3: about 68, 56 and 75 MiB), as
/// the snapshot schedule staggers builds.
fn memtable_bytes(node_id: u64) -> usize {
    const BASE: u64 = 48 << 20;
    const SPREAD: u64 = 32 << 20;
    usize::try_from(BASE + crate::snapshot_schedule::phase(node_id, SPREAD)).unwrap_or(usize::MAX)
}

/// The most bytes per second RocksDB writes to table files (flushes and
/// compactions, flushes first).
const FLUSH_BYTES_PER_SEC: i64 = 16 << 20;

fn check_identity(path: &Path, expected: &NodeIdentity, record: &[u8]) -> Result<(), OpenError> {
    let corrupt = |detail: String| OpenError::CorruptIdentity { path: path.to_owned(), detail };
    let rest = record.strip_prefix(IDENTITY_MAGIC.as_slice()).ok_or_else(|| corrupt("bad magic".into()))?;
    let (version, payload) = rest.split_first_chunk::<4>().ok_or_else(|| corrupt("cut short".into()))?;
    let version = u32::from_le_bytes(*version);
    if version != FORMAT_VERSION {
        return Err(OpenError::UnsupportedFormat { path: path.to_owned(), found: version });
    }
    let (found, rest): (NodeIdentity, _) = postcard::take_from_bytes(payload).map_err(|e| corrupt(e.to_string()))?;
    if !rest.is_empty() {
        return Err(corrupt(format!("{} trailing bytes", rest.len())));
    }
    if found.cluster_id != expected.cluster_id {
        return Err(OpenError::WrongCluster {
            path: path.to_owned(),
            expected: expected.cluster_id.clone(),
            found: found.cluster_id,
        });
    }
    if found.node_id != expected.node_id {
        return Err(OpenError::WrongNode { path: path.to_owned(), expected: expected.node_id, found: found.node_id });
    }
    Ok(())
}

/// Reads every key of every column family with checksums verified, so a
/// damaged table block stops the node at start rather than mid-apply.
fn verify_every_block(db: &DB) -> Result<(), rocksdb::Error> {
    for cf in ColumnFamily::ALL {
        let mut options = rocksdb::ReadOptions::default();
        options.set_verify_checksums(true);
        options.fill_cache(false);
        let mut iter = db.raw_iterator_cf_opt(cf.handle(db), options);
        iter.seek_to_first();
        while iter.valid() {
            iter.next();
        }
        iter.status()?;
    }
    Ok(())
}

/// Flushes every column family's memtable into table files: what a clean
/// shutdown does, so a stopped replica's data is all checksummed and
/// size-checked, and its write-ahead log holds nothing.
pub(crate) fn flush_all(db: &DB) -> Result<(), rocksdb::Error> {
    let families: Vec<_> = ColumnFamily::ALL.iter().map(|cf| cf.handle(db)).collect();
    db.flush_cfs_opt(&families, &rocksdb::FlushOptions::default())
}

/// Whether no column family holds any key: a database just created.
fn is_empty(db: &DB) -> Result<bool, rocksdb::Error> {
    for cf in ColumnFamily::ALL {
        if let Some(first) = db.iterator_cf(cf.handle(db), IteratorMode::Start).next() {
            first?;
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nodes_of_a_group_get_memtables_of_different_sizes() {
        let sizes: Vec<usize> = (1..=5).map(memtable_bytes).collect();
        for (i, size) in sizes.iter().enumerate() {
            assert!((48 << 20..80 << 20).contains(size), "node {}: {size}", i + 1);
            // Apart by at least a MiB: a flush is seconds of log at full load.
            assert!(sizes[..i].iter().all(|other| other.abs_diff(*size) >= 1 << 20), "{sizes:?}");
        }
    }
}
