//! Leader time: the `now` the leader stamps on every proposal.
//!
//! The ledger never reads a clock (it must replay identically); the leader
//! stamps each batch, and hold expiry follows those stamps. So what a stamp
//! says decides when holds expire, and a wrong stamp either expires holds
//! early or keeps them (and their stock) long after their deadline.
//!
//! This clock reads the wall clock once, when it is anchored (its first
//! stamp), and from then on advances with the monotonic clock: a step of
//! the wall clock on a running leader (NTP, an operator, a resumed VM)
//! moves no stamp. A stamp is never behind the ledger's own clock (the
//! highest `now` any leader stamped), so time never runs backwards across
//! leader changes, and never behind this clock's previous stamp. What is
//! left to operations: a node whose wall clock is off when it anchors
//! shifts the region's time by that error while it leads, so keep the
//! nodes' clocks synchronized.
//!
//! A chaos test may shift the wall clock this reads
//! ([`LeaderClock::set_offset_ms`]): a clock jump, through the admin API of
//! a node with fault injection on.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Leader time in milliseconds since the Unix epoch: wall time at anchoring,
/// advanced by the monotonic clock, never backwards.
#[derive(Debug, Default)]
pub struct LeaderClock {
    anchor: OnceLock<Anchor>,
    last_ms: AtomicU64,
    offset_ms: AtomicI64,
}

/// When the clock was anchored, and the time it read then.
#[derive(Debug)]
struct Anchor {
    at: Instant,
    ms: u64,
}

impl LeaderClock {
    /// The time to stamp, given the ledger's own clock `ledger_ms`: the
    /// anchored time plus the monotonic time since, at least `ledger_ms`
    /// and at least the last stamp.
    pub fn now_ms(&self, ledger_ms: u64) -> u64 {
        let anchor = self.anchor.get_or_init(|| Anchor { at: Instant::now(), ms: self.wall_ms().max(ledger_ms) });
        let elapsed = u64::try_from(anchor.at.elapsed().as_millis()).unwrap_or(u64::MAX);
        let stamp = anchor.ms.saturating_add(elapsed).max(ledger_ms);
        self.last_ms.fetch_max(stamp, Ordering::AcqRel).max(stamp)
    }

    /// Shifts the wall clock this reads by `offset_ms` (negative: back).
    pub fn set_offset_ms(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::Release);
    }

    /// The shift in force.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Acquire)
    }

    /// The wall clock, shifted.
    fn wall_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .saturating_add_signed(self.offset_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;

    #[test]
    fn anchors_at_the_wall_clock_and_never_runs_backwards() {
        let clock = LeaderClock::default();
        let first = clock.now_ms(0);
        assert!(first > 1_600_000_000_000, "wall time in ms: {first}");
        assert!(clock.now_ms(0) >= first);
        let ahead = first + HOUR;
        assert_eq!(clock.now_ms(ahead), ahead, "never behind the ledger's clock");
        assert!(clock.now_ms(0) >= ahead, "never behind its own last stamp");
    }

    #[test]
    fn a_wall_clock_step_on_a_running_clock_moves_no_stamp() {
        let clock = LeaderClock::default();
        let before = clock.now_ms(0);
        clock.set_offset_ms(i64::try_from(HOUR).unwrap());
        let after_forward = clock.now_ms(0);
        assert!(after_forward < before + 60_000, "a step forward is ignored: {before} -> {after_forward}");
        clock.set_offset_ms(-i64::try_from(HOUR).unwrap());
        assert!(clock.now_ms(0) >= after_forward, "a step back is ignored too");
    }

    #[test]
    fn a_clock_anchored_while_stepped_carries_the_step() {
        let clock = LeaderClock::default();
        clock.set_offset_ms(i64::try_from(HOUR).unwrap());
        let wall = LeaderClock::default().now_ms(0);
        assert!(clock.now_ms(0) >= wall + HOUR - 60_000, "the anchor reads the stepped wall clock");
    }

    #[test]
    fn anchors_no_earlier_than_the_ledger() {
        let clock = LeaderClock::default();
        let far = u64::MAX / 2;
        assert!(clock.now_ms(far) >= far);
        assert!(clock.now_ms(0) >= far, "anchored at the ledger's clock, then advancing from it");
    }
}
