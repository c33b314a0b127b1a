//! What is run: the workloads ([`Workload`]: one hot SKU, or many SKUs),
//! and the load generator ([`run_load`]) every target is driven by, paced
//! one of two ways ([`Pacing`]):
//!
//! - **closed loop**: `concurrency` workers each call the target's
//!   operation in a loop, one call at a time. It finds the most the target
//!   sustains; each call's latency includes its wait behind the others.
//! - **fixed rate** (open loop): calls start on a schedule, `per_s` a
//!   second, whatever the target does, at most `concurrency` in flight.
//!   Each call's latency counts from its *scheduled* start, so a target
//!   that falls behind shows it in its latency instead of slowing the load
//!   down (no coordinated omission). This answers "what is p99 at 15,000
//!   reservations/s?".
//!
//! Either way the load runs from the start of the warm-up to the end of
//! the measured window; calls that *start* (closed loop) or are *scheduled*
//! (fixed rate) inside the window are counted and timed, the rest only warm
//! the system up. Every call is bounded by a timeout, so the run ends on
//! time whatever the target does.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::latency::{CallsBySecond, Latency, Timeline};

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

/// How calls are paced (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pacing {
    /// Each worker starts its next call when its last one ends.
    ClosedLoop,
    /// Calls start on a fixed schedule, latency counted from it.
    FixedRate {
        /// Calls scheduled per second (at least 1).
        per_s: u32,
    },
}

/// Errors of this kind are calls a fixed-rate schedule could not start
/// before the window ended: the target fell too far behind.
pub const NOT_STARTED: &str = "not started (behind schedule)";

/// How the load is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LoadConfig {
    /// How calls are paced.
    pub pacing: Pacing,
    /// Closed loop: workers, each with one call in flight. Fixed rate: the
    /// most calls in flight at once.
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
    /// The slowest successful call of each slice of the window.
    pub timeline: Timeline,
    /// Every successful call's latency, by second of the window.
    pub by_second: CallsBySecond,
    /// The measured window.
    pub window: Duration,
}

impl LoadResult {
    fn empty(window: Duration) -> Self {
        Self {
            successes: 0,
            errors: BTreeMap::new(),
            latency: Latency::new(),
            timeline: Timeline::default(),
            by_second: CallsBySecond::default(),
            window,
        }
    }

    /// Failed calls, every kind.
    pub fn error_count(&self) -> u64 {
        self.errors.values().map(|e| e.count).sum()
    }

    /// Successful calls per second of the window.
    pub fn ops_per_s(&self) -> f64 {
        ops_per_s(self.successes, self.window)
    }

    /// Records one measured call that started `at` into the window and
    /// took `elapsed`.
    fn add(&mut self, outcome: Result<(), CallError>, at: Duration, elapsed: Duration) {
        match outcome {
            Ok(()) => {
                self.successes += 1;
                self.latency.record(elapsed);
                self.timeline.record(at, elapsed);
                self.by_second.record(at, elapsed);
            }
            Err(error) => self.add_errors(&error.kind, 1, error.message),
        }
    }

    fn add_errors(&mut self, kind: &str, count: u64, example: String) {
        let entry = self.errors.entry(kind.to_owned()).or_default();
        if entry.count == 0 {
            entry.example = example;
        }
        entry.count += count;
    }

    /// Records what a finished fixed-rate call measured (`None`: a warm-up
    /// call), or its panic as an error.
    fn add_finished(&mut self, joined: Result<Finished, tokio::task::JoinError>) {
        match joined {
            Ok(Some((outcome, at, elapsed))) => self.add(outcome, at, elapsed),
            Ok(None) => {}
            Err(error) => self.add_errors("worker panicked", 1, error.to_string()),
        }
    }

    /// Adds what a finished task measured, or its panic as an error.
    fn merge_joined(&mut self, joined: Result<Self, tokio::task::JoinError>) {
        match joined {
            Ok(result) => self.merge(result),
            Err(error) => self.add_errors("worker panicked", 1, error.to_string()),
        }
    }

    fn merge(&mut self, other: Self) {
        self.successes += other.successes;
        self.latency.merge(&other.latency);
        self.timeline.merge(&other.timeline);
        self.by_second.merge(other.by_second);
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

/// Runs `call` through the warm-up and the measured window, paced as
/// `config.pacing` says, and returns what the window measured.
pub async fn run_load<F, Fut>(config: &LoadConfig, skus: &Skus, call: F) -> LoadResult
where
    F: Fn(Call) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), CallError>> + Send + 'static,
{
    assert!(config.concurrency > 0, "at least one call in flight");
    assert!(!skus.is_empty(), "at least one SKU");
    let names: Arc<[Arc<str>]> = skus.names().iter().map(|s| Arc::from(s.as_str())).collect();
    let window = Window::starting_now(config);
    let call = Arc::new(call);
    let mut total = match config.pacing {
        Pacing::ClosedLoop => closed_loop(config, window, names, call).await,
        Pacing::FixedRate { per_s } => fixed_rate(config, window, per_s, names, call).await,
    };
    total.window = config.duration;
    total
}

/// When the warm-up ends and the measured window ends.
#[derive(Clone, Copy, Debug)]
struct Window {
    start: Instant,
    measure_from: Instant,
    end: Instant,
}

impl Window {
    fn starting_now(config: &LoadConfig) -> Self {
        let start = Instant::now();
        let measure_from = start + config.warmup;
        Self { start, measure_from, end: measure_from + config.duration }
    }
}

/// The SKU a call takes a unit of.
fn pick(names: &[Arc<str>], picker: &mut Picker) -> Arc<str> {
    Arc::clone(&names[if names.len() == 1 { 0 } else { picker.below(names.len()) }])
}

/// Makes one call, bounded by `timeout`.
async fn timed_call<F, Fut>(call: &F, made: Call, timeout: Duration) -> Result<(), CallError>
where
    F: Fn(Call) -> Fut,
    Fut: Future<Output = Result<(), CallError>>,
{
    match tokio::time::timeout(timeout, call(made)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(CallError::new("timeout", format!("no answer within {timeout:?}"))),
    }
}

async fn closed_loop<F, Fut>(config: &LoadConfig, window: Window, names: Arc<[Arc<str>]>, call: Arc<F>) -> LoadResult
where
    F: Fn(Call) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), CallError>> + Send + 'static,
{
    let mut workers = JoinSet::new();
    for worker in 0..config.concurrency {
        let (call, names, timeout) = (Arc::clone(&call), Arc::clone(&names), config.call_timeout);
        workers.spawn(async move {
            let mut picker = Picker::new(worker);
            let mut result = LoadResult::empty(Duration::ZERO);
            for seq in 0_u64.. {
                let started = Instant::now();
                if started >= window.end {
                    break;
                }
                let outcome = timed_call(&*call, Call { worker, seq, sku: pick(&names, &mut picker) }, timeout).await;
                if started >= window.measure_from {
                    result.add(outcome, started - window.measure_from, started.elapsed());
                }
            }
            result
        });
    }
    let mut total = LoadResult::empty(Duration::ZERO);
    while let Some(joined) = workers.join_next().await {
        total.merge_joined(joined);
    }
    total
}

/// Starts call `i` at `start + i / per_s` until the window ends, each as
/// its own task, at most `concurrency` at once. A call that cannot start
/// before the window ends (every slot busy) is counted as [`NOT_STARTED`].
async fn fixed_rate<F, Fut>(
    config: &LoadConfig,
    window: Window,
    per_s: u32,
    names: Arc<[Arc<str>]>,
    call: Arc<F>,
) -> LoadResult
where
    F: Fn(Call) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), CallError>> + Send + 'static,
{
    let schedule = Schedule::new(per_s, window);
    let slots = Arc::new(Semaphore::new(config.concurrency));
    let mut picker = Picker::new(0);
    let mut calls = JoinSet::new();
    let mut total = LoadResult::empty(Duration::ZERO);
    let mut started_in_window = 0_u64;
    for i in 0..schedule.calls_before_end {
        let scheduled = schedule.at(i);
        tokio::time::sleep_until(scheduled).await;
        let Ok(Ok(slot)) = tokio::time::timeout_at(window.end, Arc::clone(&slots).acquire_owned()).await else {
            break;
        };
        let measured = scheduled >= window.measure_from;
        started_in_window += u64::from(measured);
        let made = Call { worker: (i % config.concurrency as u64) as usize, seq: i, sku: pick(&names, &mut picker) };
        let (call, timeout) = (Arc::clone(&call), config.call_timeout);
        calls.spawn(async move {
            let outcome = timed_call(&*call, made, timeout).await;
            drop(slot);
            // A small answer per call: the one histogram lives here.
            measured.then(|| (outcome, scheduled - window.measure_from, scheduled.elapsed()))
        });
        // Reap what has finished, so the set stays as small as what is in flight.
        while let Some(done) = calls.try_join_next() {
            total.add_finished(done);
        }
    }
    let not_started = schedule.calls_in_window() - started_in_window;
    if not_started > 0 {
        total.add_errors(
            NOT_STARTED,
            not_started,
            format!("{not_started} scheduled calls found all {} slots busy until the window ended", config.concurrency),
        );
    }
    while let Some(done) = calls.join_next().await {
        total.add_finished(done);
    }
    total
}

/// What a fixed-rate call task answers: its outcome, when it was due into
/// the window and its latency, or `None` for a warm-up call.
type Finished = Option<(Result<(), CallError>, Duration, Duration)>;

/// A fixed-rate schedule over a window, in whole nanoseconds so that
/// counting calls is exact.
#[derive(Clone, Copy, Debug)]
struct Schedule {
    start: Instant,
    interval_ns: u64,
    /// Calls scheduled before the warm-up ends.
    calls_before_window: u64,
    /// Calls scheduled before the window ends.
    calls_before_end: u64,
}

impl Schedule {
    fn new(per_s: u32, window: Window) -> Self {
        let interval_ns = (1_000_000_000 / u64::from(per_s.max(1))).max(1);
        let before = |until: Instant| {
            let ns = u64::try_from((until - window.start).as_nanos()).unwrap_or(u64::MAX);
            ns.div_ceil(interval_ns)
        };
        Self {
            start: window.start,
            interval_ns,
            calls_before_window: before(window.measure_from),
            calls_before_end: before(window.end),
        }
    }

    /// When call `i` is due.
    fn at(&self, i: u64) -> Instant {
        self.start + Duration::from_nanos(i.saturating_mul(self.interval_ns))
    }

    /// Calls scheduled inside the measured window.
    fn calls_in_window(&self) -> u64 {
        self.calls_before_end - self.calls_before_window
    }
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
            pacing: Pacing::ClosedLoop,
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

    fn fixed(per_s: u32, concurrency: usize) -> LoadConfig {
        LoadConfig {
            pacing: Pacing::FixedRate { per_s },
            concurrency,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(2),
            call_timeout: Duration::from_secs(5),
        }
    }

    /// Runs `config` against a target whose every call takes `each`;
    /// what the window measured and how many calls were made in all.
    async fn against(config: LoadConfig, each: Duration) -> (LoadResult, u64) {
        let made = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&made);
        let result = run_load(&config, &Skus::hot(), move |_call: Call| {
            counter.fetch_add(1, Ordering::Relaxed);
            async move {
                tokio::time::sleep(each).await;
                Ok(())
            }
        })
        .await;
        (result, made.load(Ordering::Relaxed))
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_rate_keeps_its_schedule() {
        // 100 calls/s of 10 ms each, up to 4 in flight: the target keeps up.
        let (result, made) = against(fixed(100, 4), Duration::from_millis(10)).await;
        assert_eq!(result.successes, 200, "every call scheduled in the 2 s window: {:?}", result.errors);
        assert_eq!(made, 300, "and the 100 of the warm-up, not counted");
        assert_eq!(result.error_count(), 0);
        close(result.ops_per_s(), 100.0);
        close(result.latency.summary().p99_ms, 10.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_target_behind_a_fixed_rate_shows_it_in_latency() {
        // 200 calls scheduled over 2 s, but 2 in flight of 100 ms each serve 20/s:
        // the queue grows, and latency counts from each call's schedule, not
        // from when a slot freed up (no coordinated omission).
        let no_warmup = LoadConfig { warmup: Duration::ZERO, ..fixed(100, 2) };
        let (result, _) = against(no_warmup, Duration::from_millis(100)).await;
        let not_started = result.errors.get(NOT_STARTED).map_or(0, |e| e.count);
        assert_eq!(
            result.successes + not_started,
            200,
            "every scheduled call is either made or counted as not started"
        );
        assert!(not_started > 100, "{not_started}");
        close(result.ops_per_s(), result.successes as f64 / 2.0);
        let latency = result.latency.summary();
        // Call i (scheduled at 10 i ms) starts at 50 i ms: call 20 waits 800 ms.
        assert!(latency.p50_ms > 500.0, "waits behind the backlog count: {latency:?}");
        assert!(latency.max_ms > 1_500.0, "{latency:?}");
    }

    fn close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < expected * 0.01, "{actual} is not about {expected}");
    }
}
