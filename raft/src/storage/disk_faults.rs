//! [`DiskFaults`]: storage fault hooks for chaos testing, a delay before
//! every WAL sync or every sync failing. Inert until set, and only a node
//! started with fault injection enabled lets its admin API set them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::storage::error::StoreError;

/// What the storage is made to suffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskFaultConfig {
    /// Added before every WAL sync, in milliseconds: a slow disk.
    pub fsync_delay_ms: u64,
    /// Every WAL sync fails: a dying disk. The failure is sticky (see
    /// [`DiskFaults`]), so clearing this does not revive the storage.
    pub fsync_fail: bool,
}

/// The process's disk fault switch, shared by the flusher and the admin
/// API. Cheap to clone.
///
/// A failed sync (injected or real) poisons the storage for good: after a
/// failed fsync the kernel may have dropped the dirty pages, so nothing
/// written since the last good sync may be called durable. Every later
/// sync then fails too, the Raft instance stops, and the node must restart
/// and recover from what the disk really holds.
#[derive(Clone, Debug, Default)]
pub struct DiskFaults(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    fsync_delay_ms: AtomicU64,
    fsync_fail: AtomicBool,
    poisoned: AtomicBool,
}

impl DiskFaults {
    /// Replaces the fault configuration.
    pub fn set(&self, config: DiskFaultConfig) {
        self.0.fsync_delay_ms.store(config.fsync_delay_ms, Ordering::Release);
        self.0.fsync_fail.store(config.fsync_fail, Ordering::Release);
    }

    /// The configuration in force.
    pub fn current(&self) -> DiskFaultConfig {
        DiskFaultConfig {
            fsync_delay_ms: self.0.fsync_delay_ms.load(Ordering::Acquire),
            fsync_fail: self.0.fsync_fail.load(Ordering::Acquire),
        }
    }

    /// Whether a sync has failed, so nothing will be durable again.
    pub fn is_poisoned(&self) -> bool {
        self.0.poisoned.load(Ordering::Acquire)
    }

    /// Runs one sync (`sync`: the WAL's, or a snapshot record's flush)
    /// under the configured faults, on a thread of its own (the syncer's,
    /// or a snapshot store's blocking task), so the delay blocks only it.
    pub(crate) fn sync(&self, sync: impl FnOnce() -> Result<(), StoreError>) -> Result<(), StoreError> {
        let delay = self.0.fsync_delay_ms.load(Ordering::Acquire);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        if self.is_poisoned() {
            return Err(StoreError::SyncFailed);
        }
        let result = if self.0.fsync_fail.load(Ordering::Acquire) { Err(StoreError::SyncFailed) } else { sync() };
        if result.is_err() {
            self.0.poisoned.store(true, Ordering::Release);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_sync_poisons_every_later_one() {
        let faults = DiskFaults::default();
        assert!(faults.sync(|| Ok(())).is_ok(), "no faults: the sync runs");
        faults.set(DiskFaultConfig { fsync_delay_ms: 0, fsync_fail: true });
        assert!(matches!(faults.sync(|| Ok(())), Err(StoreError::SyncFailed)));
        faults.set(DiskFaultConfig::default());
        assert!(faults.is_poisoned());
        assert!(matches!(faults.sync(|| Ok(())), Err(StoreError::SyncFailed)), "healing the disk does not revive it");
    }

    #[test]
    fn a_real_sync_failure_poisons_too() {
        let faults = DiskFaults::default();
        assert!(faults.sync(|| Err(StoreError::FlusherStopped)).is_err());
        assert!(faults.sync(|| Ok(())).is_err());
    }

    #[test]
    fn the_delay_is_applied_before_the_sync() {
        let faults = DiskFaults::default();
        faults.set(DiskFaultConfig { fsync_delay_ms: 30, fsync_fail: false });
        let started = std::time::Instant::now();
        faults.sync(|| Ok(())).expect("a slow sync still succeeds");
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert_eq!(faults.current().fsync_delay_ms, 30);
    }
}
