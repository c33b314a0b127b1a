//! The per-second time series of a run, computed from its history alone
//! (a pure function, so the JSON result and the HTML report show the same
//! numbers and the tests need no region).
//!
//! An op falls into the second in which it completed (`complete_us`): a
//! fault shows as the moment clients stop hearing back. Latency is
//! `complete_us - invoke_us` of every op completed in the second, whatever
//! its outcome, so the timeouts a fault causes show as a p99 spike.

use serde::Serialize;

use crate::chaos::history::{Op, Outcome};

/// Microseconds in one bucket.
const BUCKET_US: u64 = 1_000_000;

/// One second of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Second {
    /// Seconds since the run started (the bucket covers `[second, second + 1)`).
    pub second: u64,
    /// Ops acknowledged in this second (ops per second).
    pub ok: u64,
    /// Ops that definitely failed in this second.
    pub fail: u64,
    /// Ops whose outcome the client could not know, ended in this second.
    pub indeterminate: u64,
    /// Median latency of the ops ended in this second, in microseconds;
    /// `None` when none ended.
    pub p50_us: Option<u64>,
    /// 99th-percentile latency of the same ops, in microseconds.
    pub p99_us: Option<u64>,
}

/// One [`Second`] for every second from 0 to the last op's completion
/// (seconds without ops included, with zero counts); empty for an empty
/// history.
pub fn per_second(history: &[Op]) -> Vec<Second> {
    let Some(last_us) = history.iter().map(|op| op.complete_us).max() else { return Vec::new() };
    let buckets = usize::try_from(last_us / BUCKET_US).unwrap_or(usize::MAX - 1).saturating_add(1);
    let mut latencies: Vec<Vec<u64>> = vec![Vec::new(); buckets];
    let mut series: Vec<Second> =
        (0..buckets).map(|second| Second { second: second as u64, ..Second::default() }).collect();
    for op in history {
        let Ok(index) = usize::try_from(op.complete_us / BUCKET_US) else { continue };
        let bucket = &mut series[index];
        let count = match op.outcome {
            Outcome::Ok => &mut bucket.ok,
            Outcome::Fail => &mut bucket.fail,
            Outcome::Indeterminate => &mut bucket.indeterminate,
        };
        *count = count.saturating_add(1);
        latencies[index].push(op.complete_us.saturating_sub(op.invoke_us));
    }
    for (bucket, mut latency) in series.iter_mut().zip(latencies) {
        latency.sort_unstable();
        bucket.p50_us = percentile(&latency, 50);
        bucket.p99_us = percentile(&latency, 99);
    }
    series
}

/// The nearest-rank `p`th percentile (1 to 100) of `sorted` (ascending):
/// the smallest value with at least `p`% of the values at or below it;
/// `None` when `sorted` is empty.
pub fn percentile(sorted: &[u64], p: u64) -> Option<u64> {
    let n = u64::try_from(sorted.len()).ok()?;
    let rank = p.clamp(1, 100).saturating_mul(n).div_ceil(100).max(1);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::history::OpKind;

    fn op(invoke_us: u64, complete_us: u64, outcome: Outcome) -> Op {
        let kind = OpKind::Read { sku: "s".into(), warehouse: "w".into(), level: None };
        Op { id: complete_us, region: "r".into(), client: 0, kind, invoke_us, complete_us, outcome, error: None }
    }

    #[test]
    fn an_empty_history_has_no_seconds() {
        assert_eq!(per_second(&[]), Vec::<Second>::new());
    }

    #[test]
    fn ops_fall_into_the_second_they_completed_in() {
        let history = [
            op(0, 500_000, Outcome::Ok),
            op(900_000, 1_200_000, Outcome::Ok),
            op(1_000_000, 1_999_999, Outcome::Fail),
            // Invoked in second 1, completed in second 3; second 2 is empty.
            op(1_500_000, 3_000_000, Outcome::Indeterminate),
        ];
        let series = per_second(&history);
        let counts: Vec<(u64, u64, u64, u64)> =
            series.iter().map(|s| (s.second, s.ok, s.fail, s.indeterminate)).collect();
        assert_eq!(counts, [(0, 1, 0, 0), (1, 1, 1, 0), (2, 0, 0, 0), (3, 0, 0, 1)]);
        assert_eq!((series[0].p50_us, series[0].p99_us), (Some(500_000), Some(500_000)));
        assert_eq!((series[1].p50_us, series[1].p99_us), (Some(300_000), Some(999_999)));
        assert_eq!((series[2].p50_us, series[2].p99_us), (None, None));
        assert_eq!(series[3].p50_us, Some(1_500_000));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        // 100 ops in second 0 with latencies 1..=100 ms, in shuffled order.
        let history: Vec<Op> = (1..=100u64).map(|ms| (ms * 37) % 101).map(|ms| op(0, ms * 1000, Outcome::Ok)).collect();
        let series = per_second(&history);
        assert_eq!(series.len(), 1);
        assert_eq!((series[0].ok, series[0].p50_us, series[0].p99_us), (100, Some(50_000), Some(99_000)));

        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 1), Some(7));
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4], 99), Some(4));
        assert_eq!(percentile(&[1, 2, 3, 4], 0), Some(1), "p is clamped to 1..=100");
    }

    #[test]
    fn a_completion_before_its_invocation_counts_as_zero_latency() {
        let series = per_second(&[op(2_000, 1_000, Outcome::Ok)]);
        assert_eq!(series[0].p99_us, Some(0));
    }
}
