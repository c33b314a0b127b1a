//! Checking snapshot bytes before they become a group's state.

use std::io;

use crate::storage::group_snapshot::{GroupSnapshot, SnapshotDamage};
use crate::type_config::LogId;

/// Why a snapshot was refused. The stored snapshot and the state are left as they were.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotRejected {
    /// The bytes do not restore (header or ledger part): damaged in transit or on disk.
    #[error("snapshot does not restore ({0}); it was damaged: have the leader send it again")]
    Corrupt(#[source] SnapshotDamage),
    /// The ledger in the snapshot is another region's.
    #[error("snapshot holds region {found:?}'s ledger, not {expected:?}'s: it was routed to the wrong group")]
    WrongRegion {
        /// This group's region.
        expected: String,
        /// The snapshot's region.
        found: String,
    },
    /// The snapshot is older than the replica's state or its stored
    /// snapshot: installing it would move the group back in time.
    #[error(
        "snapshot up to {offered:?} is older than this replica's state up to {current:?}; refusing to move backwards"
    )]
    Stale {
        /// The snapshot's last log id.
        offered: Option<LogId>,
        /// The replica's last applied or stored snapshot's last log id, whichever refused it.
        current: Option<LogId>,
    },
}

impl From<SnapshotRejected> for io::Error {
    fn from(rejected: SnapshotRejected) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, rejected)
    }
}

/// Decodes a group's snapshot bytes and checks that its ledger is `region`'s.
///
/// [`GroupSnapshot::decode`] checks the header, then the ledger part's
/// format, checksum and invariants. Every stored or received snapshot goes
/// through here before it becomes state. A transport can call this on a
/// received snapshot before handing it to openraft, whose
/// `install_full_snapshot` treats a failed install as fatal to the node.
pub fn verify_snapshot(region: &str, bytes: &[u8]) -> Result<GroupSnapshot, SnapshotRejected> {
    let snapshot = GroupSnapshot::decode(bytes).map_err(SnapshotRejected::Corrupt)?;
    let found = &snapshot.ledger.config().region;
    if found != region {
        return Err(SnapshotRejected::WrongRegion { expected: region.to_owned(), found: found.clone() });
    }
    Ok(snapshot)
}
