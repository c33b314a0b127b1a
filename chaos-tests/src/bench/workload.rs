//! What is run: the workloads ([`Workload`]: one hot SKU, or many SKUs),
//! and the closed-loop load generator ([`run_load`]) every target is driven
//! by.
//!
//! The generator starts `concurrency` workers. Each calls the target's
//! operation in a loop, one call at a time, from the start of the warm-up
//! to the end of the measured window; calls that *start* inside the
//! measured window are counted and timed, the rest only warm the system up.
//! Every call is bounded by a timeout, so the run ends on time whatever the
//! target does.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::latency::Latency;

/// Units each SKU starts with: more than any run can take (10^11, under the
/// ledger's 10^12 cap), so no call fails for lack of stock.
pub const STOCK_UNITS: u64 = 100_000_000_000;

/// SKUs of the spread workload unless told otherwise.
pub const SPREAD_SKUS_DEFAULT: usize = 10_000;

/// Most SKUs a spread workload may use.
pub const SPREAD_SKUS_MAX: usize = 1_000_000;

/// Which SKUs the calls decrement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// Every call takes one unit of the same SKU: a flash sale; the row
    /// lock, the key, the stock level are all contended.
    Hot,
    /// Each call takes one unit of a SKU chosen uniformly among many.
    Spread,
}

impl Workload {
    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hot => "hot",
            Self::Spread => "spread",
        }
    }

    /// The SKUs it touches, given the spread size.
    pub fn skus(self, spread_skus: usize) -> Skus {
        match self {
            Self::Hot => Skus::hot(),
            Self::Spread => Skus::spread(spread_skus),
        }
    }
}

/// The SKU names of a workload; every target seeds exactly these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skus {
    names: Arc<[String]>,
}

impl Skus {
    /// The one hot SKU.
    pub fn hot() -> Self {
        Self { names: vec!["sku-hot".to_owned()].into() }
    }

    /// `count` SKUs, `sku-00000` and on (at least one).
    pub fn spread(count: usize) -> Self {
        let count = count.clamp(1, SPREAD_SKUS_MAX);
        Self { names: (0..count).map(|i| format!("sku-{i:05}")).collect() }
    }

    /// The names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Never true: a workload has at least one SKU.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// How the load is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LoadConfig {
    /// Workers, each with one call in flight.
    pub concurrency: usize,
    /// Calls before the measured window (not counted).
    #[serde(serialize_with = "as_secs")]
    pub warmup: Duration,
    /// The measured window.
    #[serde(serialize_with = "as_secs")]
    pub duration: Duration,
    /// Longest a call may take; a call still running then counts as a
    /// `timeout` error.
    #[serde(serialize_with = "as_secs")]
    pub call_timeout: Duration,
}

fn as_secs<S: serde::Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(value.as_secs_f64())
}

/// One call to make.
#[derive(Clone, Debug)]
pub struct Call {
    /// The worker making it, `0..concurrency`.
    pub worker: usize,
    /// The worker's call number, from 0 (unique with `worker`).
    pub seq: u64,
    /// The SKU to take one unit of.
    pub sku: Arc<str>,
}

/// Why a call failed: `kind` groups errors in the report, `message` is one
/// example of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallError {
    /// A short, stable name (`rejected FAILED_PRECONDITION`, `timeout`).
    pub kind: String,
    /// What the target said.
    pub message: String,
}

impl CallError {
    /// An error of `kind` with `message`.
    pub fn new(kind: impl Into<String>, message: impl ToString) -> Self {
        Self { kind: kind.into(), message: message.to_string() }
    }
}

/// Errors of one kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ErrorCount {
    /// How many.
    pub count: u64,
    /// The first one's message.
    pub example: String,
}

/// What a load run measured.
#[derive(Clone, Debug)]
pub struct LoadResult {
    /// Calls in the measured window that succeeded.
    pub successes: u64,
    /// Calls in the measured window that failed, by kind.
    pub errors: BTreeMap<String, ErrorCount>,
    /// Latency of the successful calls.
    pub latency: Latency,
    /// The measured window.
    pub window: Duration,
}

impl LoadResult {
    fn empty(window: Duration) -> Self {
        Self { successes: 0, errors: BTreeMap::new(), latency: Latency::new(), window }
    }

    /// Failed calls, every kind.
    pub fn error_count(&self) -> u64 {
        self.errors.values().map(|e| e.count).sum()
    }

    /// Successful calls per second of the window.
    pub fn ops_per_s(&self) -> f64 {
        ops_per_s(self.successes, self.window)
    }

    fn add_error(&mut self, error: CallError) {
        let entry = self.errors.entry(error.kind).or_default();
        if entry.count == 0 {
            entry.example = error.message;
        }
        entry.count += 1;
    }

    fn merge(&mut self, other: Self) {
        self.successes += other.successes;
        self.latency.merge(&other.latency);
        for (kind, count) in other.errors {
            let entry = self.errors.entry(kind).or_default();
            if entry.count == 0 {
                entry.example = count.example;
            }
            entry.count += count.count;
        }
    }
}

/// `successes` over `window`, per second (0 for an empty window).
pub fn ops_per_s(successes: u64, window: Duration) -> f64 {
    if window.is_zero() { 0.0 } else { successes as f64 / window.as_secs_f64() }
}

/// A small, fast pseudo-random sequence (xorshift64*), seeded per worker so
/// runs are repeatable; only picks SKUs.
#[derive(Clone, Debug)]
pub struct Picker {
    state: u64,
}

impl Picker {
    /// A sequence for worker `worker`.
    pub fn new(worker: usize) -> Self {
        // Any non-zero seed works; spread workers apart.
        Self { state: (worker as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1 }
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        debug_assert!(bound > 0);
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let value = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        // Multiply-shift: unbiased enough for picking among a few thousand.
        ((u128::from(value) * bound as u128) >> 64) as usize
    }
}

/// Runs `call` from `config.concurrency` workers through the warm-up and
/// the measured window, and returns what the window measured.
pub async fn run_load<F, Fut>(config: &LoadConfig, skus: &Skus, call: F) -> LoadResult
where
    F: Fn(Call) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), CallError>> + Send + 'static,
{
    assert!(config.concurrency > 0, "at least one worker");
    assert!(!skus.is_empty(), "at least one SKU");
    let call = Arc::new(call);
    let names: Arc<[Arc<str>]> = skus.names().iter().map(|s| Arc::from(s.as_str())).collect();
    let measure_from = Instant::now() + config.warmup;
    let end = measure_from + config.duration;
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..config.concurrency {
        let (call, names, timeout) = (Arc::clone(&call), Arc::clone(&names), config.call_timeout);
        workers.spawn(async move {
            let mut picker = Picker::new(worker);
            let mut result = LoadResult::empty(Duration::ZERO);
            for seq in 0_u64.. {
                let started = Instant::now();
                if started >= end {
                    break;
                }
                let sku = Arc::clone(&names[if names.len() == 1 { 0 } else { picker.below(names.len()) }]);
                let outcome = match tokio::time::timeout(timeout, call(Call { worker, seq, sku })).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(CallError::new("timeout", format!("no answer within {timeout:?}"))),
                };
                if started < measure_from {
                    continue;
                }
                match outcome {
                    Ok(()) => {
                        result.successes += 1;
                        result.latency.record(started.elapsed());
                    }
                    Err(error) => result.add_error(error),
                }
            }
            result
        });
    }
    let mut total = LoadResult::empty(config.duration);
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(result) => total.merge(result),
            Err(error) => total.add_error(CallError::new("worker panicked", error)),
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[test]
    fn workloads_name_their_skus() {
        assert_eq!(Workload::Hot.skus(10).names(), ["sku-hot"]);
        let spread = Workload::Spread.skus(10_000);
        assert_eq!(spread.len(), 10_000);
        assert_eq!(spread.names()[0], "sku-00000");
        assert_eq!(spread.names()[9_999], "sku-09999");
        assert_eq!(Workload::Spread.skus(0).len(), 1, "never empty");
    }

    #[test]
    fn picks_cover_the_range_evenly() {
        let mut picker = Picker::new(3);
        let mut seen = [0_u32; 10];
        for _ in 0..100_000 {
            seen[picker.below(10)] += 1;
        }
        assert!(seen.iter().all(|&n| (9_000..11_000).contains(&n)), "{seen:?}");
        assert_ne!(Picker::new(0).below(1 << 20), Picker::new(1).below(1 << 20), "workers differ");
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_measured_window_counts() {
        let config = LoadConfig {
            concurrency: 4,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(2),
            call_timeout: Duration::from_millis(500),
        };
        let calls = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&calls);
        let result = run_load(&config, &Skus::spread(5), move |call: Call| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
                // Every tenth call of each worker fails; one in 50 hangs.
                match call.seq % 50 {
                    7 => Err(CallError::new("rejected", format!("call {}", call.seq))),
                    17 | 27 | 37 | 47 => Err(CallError::new("rejected", "again")),
                    49 => std::future::pending().await,
                    _ => Ok(()),
                }
            }
        })
        .await;
        // A worker's 50 calls take 49 x 10 ms + a 500 ms timeout, about 1 s:
        // about 100 calls each in the 2 s window, 90 % of them successes.
        let total = calls.load(Ordering::Relaxed);
        let counted = result.successes + result.error_count();
        assert!(counted < total, "warm-up calls are not counted: {counted} of {total}");
        assert!((300..=400).contains(&result.successes), "{}", result.successes);
        assert_eq!(result.latency.count(), result.successes);
        assert!(result.errors["rejected"].count > 0);
        assert!(result.errors["timeout"].count > 0, "hung calls end as timeouts");
        assert_eq!(result.window, Duration::from_secs(2));
        close(result.latency.summary().p50_ms, 10.0);
        assert!((result.ops_per_s() - result.successes as f64 / 2.0).abs() < 1e-9);
    }

    fn close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < expected * 0.01, "{actual} is not about {expected}");
    }
}
