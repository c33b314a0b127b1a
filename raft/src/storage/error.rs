//! [`StoreError`]: why a storage operation failed once the data dir is open.
//!
//! openraft's storage traits return `std::io::Error`, and openraft treats
//! any of them as fatal: the Raft instance stops. That is the right answer
//! for every variant here, so each message tells the operator what to do.

use std::io;

use crate::group::GroupId;

/// A storage operation failed. Fatal to the group's Raft instance.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// RocksDB refused a read, write or sync.
    #[error(
        "RocksDB failed: {0}; the node must stop. Check free disk space and the LOG file in the data dir, then restart"
    )]
    RocksDb(#[from] rocksdb::Error),
    /// A stored record does not decode: the data dir is damaged.
    #[error(
        "corrupt {what} in group {group}: {detail}. Wipe this node's data dir and let it rejoin (it is rebuilt from a snapshot)"
    )]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// Whose record.
        group: GroupId,
        /// What is wrong with it.
        detail: String,
    },
    /// A WAL sync failed (or an earlier one did): what was written since the
    /// last good sync may be gone, so nothing is durable any more.
    #[error(
        "a WAL sync failed, so writes since the last good sync may be lost; the node must restart and recover from its disk (check the disk and the kernel log)"
    )]
    SyncFailed,
    /// A file beside the database (a group's snapshot file) could not be
    /// read, written or removed.
    #[error("{path}: {detail}; check free disk space and permissions in the data dir, then restart")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What failed.
        detail: String,
    },
    /// The flusher thread is gone, so nothing can be made durable.
    #[error("the storage flusher has stopped (the storage was closed or its thread panicked); restart the node")]
    FlusherStopped,
}

impl From<StoreError> for io::Error {
    fn from(error: StoreError) -> Self {
        let kind = match error {
            StoreError::Corrupt { .. } => io::ErrorKind::InvalidData,
            StoreError::RocksDb(_) | StoreError::File { .. } | StoreError::SyncFailed | StoreError::FlusherStopped => {
                io::ErrorKind::Other
            }
        };
        io::Error::new(kind, error)
    }
}
