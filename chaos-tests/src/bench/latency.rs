//! Latency histograms ([`Latency`], an HDR histogram in microseconds) and
//! the percentiles reported ([`LatencySummary`]); the slowest call of each
//! slice of the window ([`Timeline`], [`TimelineSummary`]), which tells a
//! tail that comes in bursts (a pause) from one spread evenly (queueing);
//! every call's latency by the second it started in ([`CallsBySecond`]),
//! for percentiles over chosen seconds (those the hypervisor left alone).

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency recorded exactly, in microseconds (a minute); longer
/// calls are recorded as a minute.
const LATENCY_US_MAX: u64 = 60_000_000;

/// Significant decimal digits kept: 3 means within 0.1 %.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Latencies of calls, in microseconds, 1 µs to a minute at 0.1 %
/// precision. One per worker, merged at the end.
#[derive(Clone, Debug)]
pub struct Latency {
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    /// An empty histogram.
    pub fn new() -> Self {
        let histogram = Histogram::new_with_bounds(1, LATENCY_US_MAX, SIGNIFICANT_DIGITS)
            .expect("static bounds: 1 <= low, high >= 2 * low, 3 significant digits");
        Self { histogram }
    }

    /// Records one call that took `elapsed` (clamped to 1 µs .. 1 min).
    pub fn record(&mut self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX).clamp(1, LATENCY_US_MAX);
        self.histogram.saturating_record(us);
    }

    /// Adds every call `other` recorded.
    pub fn merge(&mut self, other: &Self) {
        self.histogram.add(&other.histogram).expect("histograms with the same bounds always add");
    }

    /// Calls recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The percentiles reported; all zero when nothing was recorded.
    pub fn summary(&self) -> LatencySummary {
        if self.histogram.is_empty() {
            return LatencySummary::default();
        }
        let ms = |us: u64| us as f64 / 1_000.0;
        let at = |quantile: f64| ms(self.histogram.value_at_quantile(quantile));
        LatencySummary {
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            p999_ms: at(0.999),
            max_ms: ms(self.histogram.max()),
            mean_ms: self.histogram.mean() / 1_000.0,
        }
    }
}

/// Latency percentiles of one run, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Slowest call.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

/// How long a [`Timeline`] slice is.
pub const SLICE: Duration = Duration::from_millis(100);

/// Slices named in a summary's `worst`.
const WORST_SLICES: usize = 3;

/// The slowest call of each [`SLICE`] of the measured window, a slice
/// being where a call started (closed loop) or was scheduled (fixed rate).
/// One per worker, merged at the end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    /// Microseconds, by slice from the window's start; 0: no call.
    slowest_us: Vec<u64>,
}

impl Timeline {
    /// Records one call that started `at` into the window and took `elapsed`.
    pub fn record(&mut self, at: Duration, elapsed: Duration) {
        let slice = usize::try_from(at.as_nanos() / SLICE.as_nanos()).unwrap_or(usize::MAX);
        if slice >= self.slowest_us.len() {
            // At most the window's length over SLICE: calls start inside it.
            self.slowest_us.resize(slice + 1, 0);
        }
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX).max(1);
        self.slowest_us[slice] = self.slowest_us[slice].max(us);
    }

    /// Adds every call `other` recorded.
    pub fn merge(&mut self, other: &Self) {
        if other.slowest_us.len() > self.slowest_us.len() {
            self.slowest_us.resize(other.slowest_us.len(), 0);
        }
        for (mine, theirs) in self.slowest_us.iter_mut().zip(&other.slowest_us) {
            *mine = (*mine).max(*theirs);
        }
    }

    /// The median slice's slowest call and the worst slices; all empty
    /// when nothing was recorded.
    pub fn summary(&self) -> TimelineSummary {
        let ms = |us: u64| us as f64 / 1_000.0;
        let mut busy: Vec<(usize, u64)> =
            self.slowest_us.iter().copied().enumerate().filter(|&(_, us)| us > 0).collect();
        busy.sort_unstable_by_key(|&(slice, us)| (std::cmp::Reverse(us), slice));
        let median_slowest_ms = busy.get(busy.len() / 2).map_or(0.0, |&(_, us)| ms(us));
        let worst = busy
            .iter()
            .take(WORST_SLICES)
            .map(|&(slice, us)| SlowSlice { at_s: (slice as u32 * SLICE).as_secs_f64(), slowest_ms: ms(us) })
            .collect();
        TimelineSummary {
            slice_ms: SLICE.as_millis() as u64,
            median_slowest_ms,
            worst,
            slowest_ms: self.slowest_us.iter().map(|&us| ms(us)).collect(),
        }
    }
}

/// What a [`Timeline`] shows, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TimelineSummary {
    /// The slices' length.
    pub slice_ms: u64,
    /// The median, over slices with calls, of each slice's slowest call.
    pub median_slowest_ms: f64,
    /// The slices with the slowest calls, slowest first.
    pub worst: Vec<SlowSlice>,
    /// Every slice's slowest call, from the window's start (0: no call).
    pub slowest_ms: Vec<f64>,
}

/// One slice and its slowest call.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SlowSlice {
    /// Where the slice starts, in seconds into the window.
    pub at_s: f64,
    /// Its slowest call.
    pub slowest_ms: f64,
}

/// Every successful call's latency, in microseconds, by the second of the
/// measured window it started in (closed loop) or was scheduled in (fixed
/// rate): percentiles over any set of seconds, e.g. leaving out those in
/// which the hypervisor took the cores ([`super::steal`]). Four bytes a
/// call. One per worker, merged at the end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallsBySecond {
    seconds: Vec<Vec<u32>>,
}

impl CallsBySecond {
    /// Records one call that started `at` into the window and took `elapsed`
    /// (clamped to 1 µs .. about 71 minutes).
    pub fn record(&mut self, at: Duration, elapsed: Duration) {
        let second = usize::try_from(at.as_secs()).unwrap_or(usize::MAX);
        if second >= self.seconds.len() {
            // At most the window's length in seconds: calls start inside it.
            self.seconds.resize_with(second + 1, Vec::new);
        }
        let us = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX).max(1);
        self.seconds[second].push(us);
    }

    /// Adds every call `other` recorded.
    pub fn merge(&mut self, other: Self) {
        if other.seconds.len() > self.seconds.len() {
            self.seconds.resize_with(other.seconds.len(), Vec::new);
        }
        for (mine, theirs) in self.seconds.iter_mut().zip(other.seconds) {
            mine.extend(theirs);
        }
    }

    /// The percentiles of the calls in the seconds `keep` accepts (by
    /// index from the window's start), with how many calls those were;
    /// `None` if they hold no call.
    pub fn summary_where(&self, keep: impl Fn(usize) -> bool) -> Option<(u64, LatencySummary)> {
        let mut latency = Latency::new();
        for (_, calls) in self.seconds.iter().enumerate().filter(|(second, _)| keep(*second)) {
            for &us in calls {
                latency.record(Duration::from_micros(u64::from(us)));
            }
        }
        (latency.count() > 0).then(|| (latency.count(), latency.summary()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts `actual` is within HDR precision (0.1 %, plus a microsecond)
    /// of `expected`.
    fn close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() <= expected * 0.001 + 0.001, "{actual} is not about {expected}");
    }

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let mut latency = Latency::new();
        for ms in 1..=1_000 {
            latency.record(Duration::from_millis(ms));
        }
        let summary = latency.summary();
        close(summary.p50_ms, 500.0);
        close(summary.p99_ms, 990.0);
        close(summary.p999_ms, 999.0);
        close(summary.max_ms, 1_000.0);
        close(summary.mean_ms, 500.5);
    }

    #[test]
    fn a_slow_tail_shows_only_in_the_high_percentiles() {
        let mut latency = Latency::new();
        for _ in 0..9_980 {
            latency.record(Duration::from_micros(2_000));
        }
        for _ in 0..20 {
            latency.record(Duration::from_millis(400));
        }
        let summary = latency.summary();
        close(summary.p50_ms, 2.0);
        close(summary.p99_ms, 2.0);
        close(summary.p999_ms, 400.0);
    }

    #[test]
    fn merged_histograms_count_every_call() {
        let (mut a, mut b) = (Latency::new(), Latency::new());
        a.record(Duration::from_millis(1));
        b.record(Duration::from_millis(3));
        b.record(Duration::from_millis(3));
        a.merge(&b);
        assert_eq!(a.count(), 3);
        close(a.summary().p50_ms, 3.0);
    }

    #[test]
    fn a_pause_stands_out_of_the_timeline() {
        let mut calm = Timeline::default();
        let mut paused = Timeline::default();
        for slice in 0..10_u32 {
            let at = slice * SLICE + Duration::from_millis(5);
            calm.record(at, Duration::from_millis(2 + u64::from(slice % 3)));
            paused.record(at, Duration::from_millis(3));
        }
        paused.record(4 * SLICE + Duration::from_millis(50), Duration::from_millis(40));
        paused.record(7 * SLICE, Duration::from_millis(25));
        calm.merge(&paused);
        let summary = calm.summary();
        assert_eq!(summary.slice_ms, 100);
        assert_eq!(summary.slowest_ms.len(), 10);
        close(summary.median_slowest_ms, 3.0);
        let worst: Vec<(f64, f64)> = summary.worst.iter().map(|w| (w.at_s, w.slowest_ms)).collect();
        assert_eq!(worst, vec![(0.4, 40.0), (0.7, 25.0), (0.2, 4.0)]);
    }

    #[test]
    fn an_empty_timeline_has_no_slices() {
        let summary = Timeline::default().summary();
        assert_eq!(summary.median_slowest_ms, 0.0);
        assert!(summary.worst.is_empty() && summary.slowest_ms.is_empty());
    }

    #[test]
    fn extremes_are_clamped_and_empty_is_zero() {
        assert_eq!(Latency::new().summary(), LatencySummary::default());
        let mut latency = Latency::new();
        latency.record(Duration::ZERO);
        latency.record(Duration::from_secs(3_600));
        assert_eq!(latency.count(), 2);
        close(latency.summary().max_ms, 60_000.0);
    }

    #[test]
    fn calls_by_second_give_percentiles_over_the_seconds_kept() {
        let (mut a, mut b) = (CallsBySecond::default(), CallsBySecond::default());
        for ms in 0..100 {
            a.record(Duration::from_millis(10 * ms), Duration::from_millis(2));
        }
        b.record(Duration::from_millis(1_500), Duration::from_millis(300));
        b.record(Duration::from_millis(2_100), Duration::from_millis(4));
        a.merge(b);
        let (calls, all) = a.summary_where(|_| true).unwrap();
        assert_eq!(calls, 102);
        close(all.max_ms, 300.0);
        let (calls, quiet) = a.summary_where(|second| second != 1).unwrap();
        assert_eq!(calls, 101, "seconds 0 and 2");
        close(quiet.max_ms, 4.0);
        close(quiet.p99_ms, 2.0);
        assert_eq!(a.summary_where(|second| second > 2), None);
    }
}
