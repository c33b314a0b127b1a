//! Leader time: the `now` the leader stamps on every proposal.
//!
//! The ledger never reads a clock (it must replay identically); the leader
//! reads the wall clock once per batch and stamps it on every command of the
//! batch. The ledger keeps the highest `now` it has seen, so a leader whose
//! clock is behind its predecessor's cannot move time backwards; this clock
//! also never goes backwards within one process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A wall clock in milliseconds since the Unix epoch that never runs
/// backwards within the process.
#[derive(Debug, Default)]
pub struct LeaderClock {
    last_ms: AtomicU64,
}

impl LeaderClock {
    /// The current time, at least the last time this clock returned.
    pub fn now_ms(&self) -> u64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let previous = self.last_ms.fetch_max(wall, Ordering::AcqRel);
        previous.max(wall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_runs_backwards() {
        let clock = LeaderClock::default();
        clock.last_ms.store(u64::MAX - 1, Ordering::Relaxed);
        assert_eq!(clock.now_ms(), u64::MAX - 1, "a clock behind the last stamp returns the last stamp");
        let fresh = LeaderClock::default();
        let first = fresh.now_ms();
        assert!(first > 1_600_000_000_000, "wall time in ms: {first}");
        assert!(fresh.now_ms() >= first);
    }
}
