//! The schedule: which fault each window applies, when it starts and how
//! long it lasts, drawn from the seed alone before the run starts, so a
//! seed names the same schedule every time (the cluster's own timing still
//! varies: which node leads when a window starts is seen, not planned).

use std::time::Duration;

use super::fault::Fault;
use crate::chaos::rng::SplitMix64;

/// The generator stream the schedule draws from (the workload's clients
/// use small stream numbers).
const STREAM: u64 = u64::MAX;

/// Most windows in a plan, whatever the duration: a bound on the loop.
const WINDOWS_MAX: usize = 10_000;

/// One planned fault window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// The fault.
    pub fault: Fault,
    /// When it begins, from the start of the run.
    pub start: Duration,
    /// How long it is held (or, for stepwise faults, its budget).
    pub length: Duration,
    /// Random bits for the choices made when it begins (which follower,
    /// which minority, how slow a link), so those follow from the seed too.
    pub pick: u64,
}

impl Planned {
    /// When it is planned to end, from the start of the run.
    pub fn end(&self) -> Duration {
        self.start.saturating_add(self.length)
    }
}

/// The windows of a run of `duration` over a region of `members` nodes: the
/// first begins 0.5-1.5 s in, each lasts its fault's
/// [`Fault::length_ms`] and is followed by 1-2 s of quiet; the fault of
/// each is drawn from `faults`. Every window ends within `duration`; the
/// plan stops at the first that would not. Empty when `faults` is.
pub fn plan(faults: &[Fault], members: u64, seed: u64, duration: Duration) -> Vec<Planned> {
    let faults: Vec<Fault> = faults.iter().copied().filter(|fault| *fault != Fault::None).collect();
    let Some(last) = u64::try_from(faults.len()).ok().and_then(|n| n.checked_sub(1)) else { return Vec::new() };
    let mut rng = SplitMix64::derive(seed, STREAM);
    let mut at = Duration::from_millis(rng.range(500, 1_500));
    let mut windows = Vec::new();
    while windows.len() < WINDOWS_MAX {
        let index = usize::try_from(rng.range(0, last)).unwrap_or(0);
        let fault = faults[index];
        let (shortest, longest) = fault.length_ms(members);
        let length = Duration::from_millis(rng.range(shortest, longest));
        let window = Planned { fault, start: at, length, pick: rng.next_u64() };
        if window.end() > duration {
            break;
        }
        at = window.end().saturating_add(Duration::from_millis(rng.range(1_000, 2_000)));
        windows.push(window);
    }
    windows
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn the_same_seed_gives_the_same_plan_and_another_seed_another() {
        let faults = [Fault::LeaderKill, Fault::Pause, Fault::Ring, Fault::SlowLinks];
        let a = plan(&faults, 3, 7, 60 * SECOND);
        assert_eq!(a, plan(&faults, 3, 7, 60 * SECOND));
        assert_ne!(a, plan(&faults, 3, 8, 60 * SECOND));
        let used: std::collections::BTreeSet<Fault> = a.iter().map(|w| w.fault).collect();
        assert!(used.len() > 1, "a minute of windows draws more than one of four faults: {used:?}");
        assert!(used.iter().all(|fault| faults.contains(fault)));
    }

    #[test]
    fn windows_are_ordered_apart_and_within_the_duration() {
        for seed in 0..200 {
            for duration in [SECOND, 6 * SECOND, 30 * SECOND] {
                let windows = plan(&Fault::ALL, 5, seed, duration);
                for window in &windows {
                    assert!(window.start >= SECOND / 2 && window.end() <= duration, "seed {seed}: {window:?}");
                    assert!(window.fault != Fault::None);
                }
                for pair in windows.windows(2) {
                    assert!(pair[1].start >= pair[0].end() + SECOND, "seed {seed}: quiet between {pair:?}");
                }
            }
        }
    }

    #[test]
    fn every_fault_fits_a_six_second_run_and_none_plans_nothing() {
        for fault in Fault::ALL.into_iter().filter(|f| *f != Fault::None) {
            let windows = plan(&[fault], 3, 1, 6 * SECOND);
            assert!(!windows.is_empty(), "{} has no window in 6 s", fault.name());
            assert!(windows.iter().all(|w| w.fault == fault));
        }
        assert!(plan(&[Fault::None], 3, 1, 60 * SECOND).is_empty());
        assert!(plan(&[], 3, 1, 60 * SECOND).is_empty());
        assert!(plan(&[Fault::LeaderKill], 3, 1, SECOND).is_empty(), "no window fits in a second");
    }
}
