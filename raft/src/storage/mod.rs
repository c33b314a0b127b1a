//! Storage for every Raft group of a process, in one RocksDB.
//!
//! [`Storage::open`] opens the process-wide database (checking that the
//! data dir is this node's) and starts the flusher; [`Storage::log_store`]
//! and [`Storage::state_machine`] give one group's halves of openraft's
//! storage API over it.
//!
//! - `db`: opening, column families, the identity check ([`OpenError`]).
//! - `keys`: the per-group key encoding.
//! - `flusher`: ordered writes, one WAL sync for many of them.
//! - `log_store`: [`LogStore`], openraft's `RaftLogStorage`.
//! - `state_machine`: [`StateMachineStore`], openraft's `RaftStateMachine`.
//! - `applied`: the in-memory applied state (ledger, last applied,
//!   membership, highest node id used) and [`LedgerReader`].
//! - `group_snapshot`: [`GroupSnapshot`], the snapshot bytes: a checked
//!   header (the highest node id used) before the ledger's own bytes.
//! - `snapshot_builder`: [`LedgerSnapshotBuilder`], building beside apply,
//!   and [`SnapshotBuilds`], whether one runs and the signal abandoning it.
//! - `snapshot_check`: [`verify_snapshot`], before bytes become state.
//! - `snapshot_store`: a group's stored snapshot, never moved backwards.
//! - `disk_faults`: [`DiskFaults`], slow or failing syncs for chaos tests.
//! - `disk_metrics`: [`DiskMetrics`], WAL sync and snapshot build times.
//! - `entry_cache`: the newest log entries, read back without decoding.
//! - `witness`: how far each group had come, outside RocksDB, so a
//!   database that lost acknowledged state is refused at open.
//! - `codec`, `error`: value encoding, [`StoreError`].

mod applied;
mod background;
mod codec;
mod db;
mod disk_faults;
mod disk_metrics;
mod entry_cache;
mod error;
mod flusher;
mod group_snapshot;
mod keys;
mod log_store;
mod snapshot_builder;
mod snapshot_check;
mod snapshot_store;
mod state_machine;
mod witness;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ledger::LedgerConfig;
use rocksdb::DB;

pub use self::applied::LedgerReader;
pub use self::db::{IfMissing, NodeIdentity, OpenError};
pub use self::disk_faults::{DiskFaultConfig, DiskFaults};
pub use self::disk_metrics::DiskMetrics;
pub use self::error::StoreError;
pub use self::group_snapshot::{GroupSnapshot, SnapshotDamage};
pub use self::log_store::LogStore;
pub use self::snapshot_builder::{LedgerSnapshotBuilder, SnapshotBuilds};
pub use self::snapshot_check::{SnapshotRejected, verify_snapshot};
pub use self::snapshot_store::StoredSnapshotSize;
pub use self::state_machine::StateMachineStore;
use crate::group::GroupId;

/// Where and whose the data dir is.
#[derive(Clone, Debug)]
pub struct StorageConfig {
    /// The RocksDB directory, shared by every group the process hosts.
    pub data_dir: PathBuf,
    /// Who the data dir belongs to; checked on every open.
    pub identity: NodeIdentity,
    /// Whether a missing database may be created.
    pub if_missing: IfMissing,
}

/// What every group's stores share. Dropping it is a clean stop (see its
/// `Drop`); field order then matters: the database closes before the
/// storage is reported closed.
pub(crate) struct Shared {
    pub(crate) flusher: flusher::Flusher,
    pub(crate) db: Arc<DB>,
    dir: PathBuf,
    pub(crate) disk_faults: DiskFaults,
    pub(crate) disk_metrics: DiskMetrics,
    closed: ClosedOnDrop,
}

impl Drop for Shared {
    /// A clean stop: the flusher syncs what was written and joins its syncer, the
    /// memtables are flushed into table files (so the write-ahead log holds
    /// nothing a damaged file could lose silently), and the witness records
    /// how far every group came. After a failed sync neither: what the
    /// database holds may not be durable, so nothing may vouch for it.
    fn drop(&mut self) {
        self.flusher.stop();
        if self.disk_faults.is_poisoned() {
            tracing::warn!("a sync failed earlier: stopping without a flush or a witness");
            return;
        }
        if let Err(error) = db::flush_all(&self.db) {
            tracing::warn!(%error, "could not flush the memtables at shutdown; the write-ahead log still holds them");
            return;
        }
        match witness::Witness::of(&self.db) {
            Ok(witness) => {
                if let Err(error) = witness.write(&self.dir) {
                    tracing::warn!(%error, "could not write the witness at shutdown");
                }
            }
            Err(error) => tracing::warn!(%error, "could not read what to witness at shutdown"),
        }
    }
}

/// Raises its flag when dropped: the last field of [`Shared`].
struct ClosedOnDrop(Arc<AtomicBool>);

impl Drop for ClosedOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Tells whether a [`Storage`] is closed: every clone and every store
/// opened from it dropped, the flusher stopped and the database closed, so
/// the data dir may be opened again (a restart in the same process) or
/// removed.
#[derive(Clone, Debug)]
pub struct StorageClosed(Arc<AtomicBool>);

impl StorageClosed {
    /// Whether the storage has closed.
    pub fn is_closed(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The process's storage: one RocksDB and one flusher for every group.
/// Cheap to clone. The database closes when the last clone, and every
/// store opened from it, is dropped.
#[derive(Clone)]
pub struct Storage {
    shared: Arc<Shared>,
    identity: NodeIdentity,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").field("identity", &self.identity).finish_non_exhaustive()
    }
}

impl Storage {
    /// Opens the data dir and starts the flusher. Fails with a message that
    /// says what to do if the dir is missing (and may not be created),
    /// locked, damaged, or belongs to another node or cluster.
    pub fn open(config: &StorageConfig) -> Result<Self, OpenError> {
        let db = db::open(&config.data_dir, &config.identity, config.if_missing)?;
        let disk_faults = DiskFaults::default();
        let disk_metrics = DiskMetrics::new();
        let flusher = flusher::Flusher::start(Arc::clone(&db), disk_faults.clone(), disk_metrics.clone())
            .map_err(OpenError::Threads)?;
        let closed = ClosedOnDrop(Arc::new(AtomicBool::new(false)));
        let shared = Shared { flusher, db, dir: config.data_dir.clone(), disk_faults, disk_metrics, closed };
        Ok(Self { shared: Arc::new(shared), identity: config.identity.clone() })
    }

    /// A flag that turns true once this storage has closed.
    pub fn closed(&self) -> StorageClosed {
        StorageClosed(Arc::clone(&self.shared.closed.0))
    }

    /// The disk fault switch (inert until set; chaos tests only).
    pub fn disk_faults(&self) -> &DiskFaults {
        &self.shared.disk_faults
    }

    /// The storage's disk timings, for the node's metrics registry.
    pub fn disk_metrics(&self) -> &DiskMetrics {
        &self.shared.disk_metrics
    }

    /// Who the data dir belongs to.
    pub fn identity(&self) -> &NodeIdentity {
        &self.identity
    }

    /// The log store of `group`. Open it once per group per process.
    pub fn log_store(&self, group: GroupId) -> LogStore {
        LogStore::new(Arc::clone(&self.shared), group)
    }

    /// The state machine of `group`, restored from its stored snapshot if it
    /// has one. `config` seeds the ledger of a group with no snapshot yet,
    /// and names the region every snapshot of the group must hold.
    pub fn state_machine(&self, group: GroupId, config: LedgerConfig) -> Result<StateMachineStore, OpenError> {
        let purged = self.log_store(group.clone()).last_purged().map_err(OpenError::Read)?;
        StateMachineStore::open(Arc::clone(&self.shared), group, config, purged)
    }
}
