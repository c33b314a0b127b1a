//! The hypervisor's share of the run: how many cores it took in each
//! second of the measured window ([`stolen_by_second`]), and the latency
//! over the seconds in which it took next to none ([`QuietSeconds`]).
//!
//! On a shared virtual machine another guest may take a large part of the
//! cores for a minute: in one 180 s run on the 2-core development VM the
//! hypervisor took 0.4 to 0.7 cores for 40 s, calls queued behind the
//! missing CPU for seconds, and the run's p99 (2.4 s) said more about the
//! neighbour than about the target. The run's own figures stay as
//! measured and are what goals are judged on; the figures over the quiet
//! seconds are reported beside them, so that runs on a noisy host can
//! still be compared with each other.

use std::time::Duration;

use serde::Serialize;

use super::cpu::{MachineTicks, cores_used};
use super::latency::{CallsBySecond, LatencySummary};

/// Most of the machine's cores the hypervisor may take in a second that
/// counts as quiet: 1 %, two ticks a second on two cores.
pub const QUIET_STOLEN_SHARE: f64 = 0.01;

/// The cores stolen in each whole second from `warmup` from now until
/// `window` later, sampled from `/proc/stat` once a second; empty if it
/// cannot be read.
pub async fn stolen_by_second(warmup: Duration, window: Duration) -> Vec<f64> {
    tokio::time::sleep(warmup).await;
    let mut seconds = tokio::time::interval(Duration::from_secs(1));
    seconds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    seconds.tick().await;
    let (Some(mut before), mut at) = (MachineTicks::now(), tokio::time::Instant::now()) else { return Vec::new() };
    let mut stolen = Vec::new();
    for _ in 0..window.as_secs() {
        seconds.tick().await;
        let (Some(now), now_at) = (MachineTicks::now(), tokio::time::Instant::now()) else { return Vec::new() };
        let elapsed = now_at.duration_since(at).as_secs_f64().max(1e-3);
        stolen.push(cores_used(before.stolen, now.stolen, elapsed));
        (before, at) = (now, now_at);
    }
    stolen
}

/// The calls of the seconds in which the hypervisor took at most
/// [`QUIET_STOLEN_SHARE`] of the machine's cores.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuietSeconds {
    /// Most cores a quiet second may have lost to the hypervisor.
    pub max_stolen_cores: f64,
    /// Seconds of the window that were quiet.
    pub quiet: usize,
    /// Seconds of the window with a steal sample.
    pub sampled: usize,
    /// Successful calls that started in a quiet second.
    pub calls: u64,
    /// Their latency; `None` without any.
    pub latency: Option<LatencySummary>,
}

impl QuietSeconds {
    /// Picks the quiet seconds of a machine with `cores` cores from
    /// `stolen` (cores stolen by second) and sums up their calls.
    pub fn of(calls: &CallsBySecond, stolen: &[f64], cores: usize) -> Self {
        let max_stolen_cores = cores as f64 * QUIET_STOLEN_SHARE;
        let is_quiet = |second: usize| stolen.get(second).is_some_and(|&cores| cores <= max_stolen_cores + 1e-9);
        let summary = calls.summary_where(is_quiet);
        Self {
            max_stolen_cores,
            quiet: (0..stolen.len()).filter(|&second| is_quiet(second)).count(),
            sampled: stolen.len(),
            calls: summary.map_or(0, |(calls, _)| calls),
            latency: summary.map(|(_, latency)| latency),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_the_hypervisor_took_cores_in_are_left_out() {
        let mut calls = CallsBySecond::default();
        for second in 0..4_u64 {
            let slow = if second == 2 { 400 } else { 3 };
            for i in 0..100 {
                calls.record(Duration::from_millis(second * 1_000 + i * 10), Duration::from_millis(slow));
            }
        }
        // Second 3 has calls but no sample (the window ended first).
        let quiet = QuietSeconds::of(&calls, &[0.0, 0.02, 0.6], 2);
        assert_eq!((quiet.quiet, quiet.sampled, quiet.calls), (2, 3, 200));
        assert!((quiet.max_stolen_cores - 0.02).abs() < 1e-9);
        let latency = quiet.latency.expect("quiet calls");
        assert!((latency.max_ms - 3.0).abs() < 0.01, "{latency:?}");

        let noisy = QuietSeconds::of(&calls, &[0.5; 4], 2);
        assert_eq!((noisy.quiet, noisy.calls, noisy.latency), (0, 0, None));
    }

    #[tokio::test(start_paused = true)]
    async fn steal_is_sampled_once_a_second_through_the_window() {
        if MachineTicks::now().is_none() {
            return; // No /proc/stat here: nothing to sample.
        }
        let stolen = stolen_by_second(Duration::from_millis(500), Duration::from_secs(3)).await;
        assert_eq!(stolen.len(), 3);
        assert!(stolen.iter().all(|&cores| cores >= 0.0));
    }
}
