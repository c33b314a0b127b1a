//! Leader time: the `now` the leader stamps on every proposal.
//!
//! The ledger never reads a clock (it must replay identically); the leader
//! reads the wall clock once per batch and stamps it on every command of the
//! batch. The ledger keeps the highest `now` it has seen, so a leader whose
//! clock is behind its predecessor's cannot move time backwards; this clock
//! also never goes backwards within one process.
//!
//! A chaos test may shift it ([`LeaderClock::set_offset_ms`]): a clock jump
//! on the leader, through the admin API of a node with fault injection on.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A wall clock in milliseconds since the Unix epoch that never runs
/// backwards within the process.
#[derive(Debug, Default)]
pub struct LeaderClock {
    last_ms: AtomicU64,
    offset_ms: AtomicI64,
}

impl LeaderClock {
    /// The current time, at least the last time this clock returned.
    pub fn now_ms(&self) -> u64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .saturating_add_signed(self.offset_ms.load(Ordering::Acquire));
        let previous = self.last_ms.fetch_max(wall, Ordering::AcqRel);
        previous.max(wall)
    }

    /// Shifts the wall clock this reads by `offset_ms` (negative: back).
    pub fn set_offset_ms(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::Release);
    }

    /// The shift in force.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Acquire)
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

    #[test]
    fn a_jump_forward_shows_and_a_jump_back_holds_time_still() {
        let clock = LeaderClock::default();
        let before = clock.now_ms();
        clock.set_offset_ms(3_600_000);
        let jumped = clock.now_ms();
        assert!(jumped >= before + 3_600_000, "jumped {jumped}, before {before}");
        clock.set_offset_ms(-3_600_000);
        assert_eq!(clock.now_ms(), jumped, "a jump back never moves the stamp back");
        assert_eq!(clock.offset_ms(), -3_600_000);
    }
}
