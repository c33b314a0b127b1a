//! [`Report`]: every target's figures per workload, the ratios between
//! targets measured in the same run, the machine; as a table for people
//! ([`Report::render`]) and as JSON (`serde`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::Target;
use super::cpu::CpuUsage;
use super::latency::{LatencySummary, TimelineSummary};
use super::machine::Machine;
use super::steal::QuietSeconds;
use super::workload::{ErrorCount, LoadConfig, Pacing, Workload};

/// The goal for the ledger: hot-SKU reservations per second on a
/// 3-replica region with fsync on.
pub const GOAL_HOT_OPS_PER_S: f64 = 15_000.0;

/// The goal for the ledger: hot-SKU p99 latency, in milliseconds.
pub const GOAL_HOT_P99_MS: f64 = 20.0;

/// What one target did on one workload.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measurement {
    /// Successful calls in the measured window.
    pub ops: u64,
    /// Successful calls per second.
    pub ops_per_s: f64,
    /// Failed calls in the measured window.
    pub errors: u64,
    /// Failed calls by kind, with one example message each.
    pub errors_by_kind: BTreeMap<String, ErrorCount>,
    /// Latency of the successful calls.
    pub latency: LatencySummary,
    /// The slowest successful call of each slice of the window: whether
    /// the tail came in bursts or throughout.
    pub timeline: TimelineSummary,
    /// The calls of the seconds in which the hypervisor took (next to) no
    /// cores, and their latency; `None` if `/proc/stat` could not be read.
    pub quiet: Option<QuietSeconds>,
    /// The ledger's average commands per Raft entry in the window (from
    /// `regiond_proposals_per_entry`); `None` for the peers.
    pub commands_per_entry: Option<f64>,
    /// CPU used during the window by the target's servers and by the load
    /// generator, in cores; `None` if `/proc` could not be read.
    pub cpu: Option<CpuUsage>,
    /// How the target was set up (replicas, connections, durability).
    pub notes: Vec<String>,
}

/// How one target's run on one workload ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    /// It ran; the figures (boxed: far larger than the other variants).
    Measured(Box<Measurement>),
    /// It could not run here (not installed, ...): nothing was measured.
    Skipped {
        /// Why.
        reason: String,
    },
    /// It was set up but failed.
    Failed {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// The figures, if measured.
    pub fn measurement(&self) -> Option<&Measurement> {
        match self {
            Self::Measured(m) => Some(m),
            Self::Skipped { .. } | Self::Failed { .. } => None,
        }
    }
}

/// One target's result on a workload.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TargetResult {
    /// Which target.
    pub target: Target,
    /// How it went.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Throughput and p99 latency of `target` divided by those of `peer`, both
/// measured in this run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ratio {
    /// The numerator.
    pub target: Target,
    /// The denominator.
    pub peer: Target,
    /// `target` ops/s over `peer` ops/s.
    pub throughput: f64,
    /// `target` p99 over `peer` p99 (below 1: `target` is faster); `None`
    /// when `peer` recorded no latency.
    pub p99_latency: Option<f64>,
}

/// Every target on one workload.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadReport {
    /// Which workload.
    pub workload: Workload,
    /// SKUs it touched.
    pub skus: usize,
    /// One per target, in the order asked for.
    pub results: Vec<TargetResult>,
    /// Every pair of measured targets with a non-zero denominator.
    pub ratios: Vec<Ratio>,
}

impl WorkloadReport {
    /// The report of `results`, with their ratios computed.
    pub fn new(workload: Workload, skus: usize, results: Vec<TargetResult>) -> Self {
        let ratios = ratios(&results);
        Self { workload, skus, results, ratios }
    }

    /// `target`'s throughput over `peer`'s, if both were measured.
    pub fn ratio(&self, target: Target, peer: Target) -> Option<f64> {
        self.ratios.iter().find(|r| r.target == target && r.peer == peer).map(|r| r.throughput)
    }

    fn measurement(&self, target: Target) -> Option<&Measurement> {
        self.results.iter().find(|r| r.target == target).and_then(|r| r.outcome.measurement())
    }
}

/// The ratios between every ordered pair of distinct measured targets.
pub fn ratios(results: &[TargetResult]) -> Vec<Ratio> {
    let measured: Vec<(Target, &Measurement)> =
        results.iter().filter_map(|r| Some((r.target, r.outcome.measurement()?))).collect();
    let mut ratios = Vec::new();
    for &(target, m) in &measured {
        for &(peer, p) in &measured {
            if target != peer && p.ops_per_s > 0.0 {
                let p99_latency = (p.latency.p99_ms > 0.0).then(|| m.latency.p99_ms / p.latency.p99_ms);
                ratios.push(Ratio { target, peer, throughput: m.ops_per_s / p.ops_per_s, p99_latency });
            }
        }
    }
    ratios
}

/// The whole run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// What it ran on.
    pub machine: Machine,
    /// How the load was applied.
    pub load: LoadConfig,
    /// One per workload, in the order run.
    pub workloads: Vec<WorkloadReport>,
}

impl Report {
    /// Whether any target failed (skips are not failures).
    pub fn has_failures(&self) -> bool {
        self.workloads.iter().flat_map(|w| &w.results).any(|r| matches!(r.outcome, Outcome::Failed { .. }))
    }

    /// The report as text tables, one per workload.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let load = &self.load;
        let _ = writeln!(out, "machine: {}", self.machine.line());
        let pacing = match load.pacing {
            Pacing::ClosedLoop => format!("{} concurrent callers, closed loop", load.concurrency),
            Pacing::FixedRate { per_s } => format!(
                "open loop, {} calls/s on a fixed schedule, at most {} in flight, latency from each call's scheduled start",
                thousands(u64::from(per_s)),
                load.concurrency
            ),
        };
        let _ = writeln!(
            out,
            "load: {pacing}, one unit per call; {:.0} s warm-up, then {:.0} s measured per target and workload",
            load.warmup.as_secs_f64(),
            load.duration.as_secs_f64()
        );
        for workload in &self.workloads {
            out.push('\n');
            render_workload(&mut out, workload);
        }
        out
    }
}

fn render_workload(out: &mut String, report: &WorkloadReport) {
    let targets: Vec<Target> = report.results.iter().map(|r| r.target).collect();
    let what = match report.workload {
        Workload::Hot => "one SKU, every call takes a unit of it".to_owned(),
        Workload::Spread => {
            format!("{} SKUs, each call takes a unit of one chosen at random", thousands(report.skus as u64))
        }
    };
    let _ = writeln!(out, "workload {}: {what}", report.workload.name());
    let mut header =
        format!("  {:<9} {:>10} {:>8} {:>8} {:>8} {:>8}", "target", "ops/s", "p50 ms", "p99 ms", "p999 ms", "errors");
    for peer in &targets {
        let _ = write!(header, " {:>12}", format!("vs {}", peer.name()));
    }
    let _ = writeln!(out, "{header}");
    for result in &report.results {
        let name = result.target.name();
        match &result.outcome {
            Outcome::Measured(m) => {
                let mut line = format!(
                    "  {:<9} {:>10} {:>8.2} {:>8.2} {:>8.2} {:>8}",
                    name,
                    thousands(m.ops_per_s.round() as u64),
                    m.latency.p50_ms,
                    m.latency.p99_ms,
                    m.latency.p999_ms,
                    m.errors
                );
                for &peer in &targets {
                    let cell = report.ratio(result.target, peer).map_or_else(|| "-".to_owned(), times);
                    let _ = write!(line, " {cell:>12}");
                }
                let _ = writeln!(out, "{line}");
            }
            Outcome::Skipped { reason } => {
                let _ = writeln!(out, "  {name:<9} skipped: {reason}");
            }
            Outcome::Failed { reason } => {
                let _ = writeln!(out, "  {name:<9} FAILED: {}", first_lines(reason, 12));
            }
        }
    }
    for result in &report.results {
        let Some(m) = result.outcome.measurement() else { continue };
        let mut notes = m.notes.clone();
        let p99_vs: Vec<String> = report
            .ratios
            .iter()
            .filter(|r| r.target == result.target)
            .filter_map(|r| Some(format!("{} {}'s", times(r.p99_latency?), r.peer.name())))
            .collect();
        if !p99_vs.is_empty() {
            notes.push(format!("p99 latency {}", p99_vs.join(", ")));
        }
        if let Some(per_entry) = m.commands_per_entry {
            notes.push(format!("{per_entry:.1} commands per Raft entry"));
        }
        if let Some(cpu) = &m.cpu {
            let mut line = format!(
                "CPU in the window: servers {:.2} cores, load generator {:.2} cores",
                cpu.server_cores, cpu.client_cores
            );
            if let Some(machine) = &cpu.machine {
                line.push_str(&format!(
                    "; whole machine {:.2} busy, {:.2} idle, {:.2} stolen by the hypervisor",
                    machine.busy_cores, machine.idle_cores, machine.stolen_cores
                ));
            }
            notes.push(line);
        }
        if !notes.is_empty() {
            let _ = writeln!(out, "  {}: {}", result.target.name(), notes.join("; "));
        }
        render_timeline(out, result.target, &m.timeline);
        if let Some(quiet) = &m.quiet {
            render_quiet(out, result.target, quiet);
        }
        for (kind, count) in &m.errors_by_kind {
            let _ = writeln!(
                out,
                "  {} errors: {} x {kind} (e.g. {})",
                result.target.name(),
                count.count,
                first_lines(&count.example, 1)
            );
        }
    }
    if report.workload == Workload::Hot
        && let Some(m) = report.measurement(Target::Ledger)
    {
        let met = m.ops_per_s >= GOAL_HOT_OPS_PER_S && m.latency.p99_ms < GOAL_HOT_P99_MS && m.errors == 0;
        let _ = writeln!(
            out,
            "  goal (ledger, hot SKU): >= {} reservations/s with p99 < {GOAL_HOT_P99_MS:.0} ms and no errors: {} ({} /s, p99 {:.2} ms)",
            thousands(GOAL_HOT_OPS_PER_S as u64),
            if met { "met" } else { "NOT met" },
            thousands(m.ops_per_s.round() as u64),
            m.latency.p99_ms
        );
    }
}

/// One line on when the slowest calls happened, if any call succeeded.
fn render_timeline(out: &mut String, target: Target, timeline: &TimelineSummary) {
    if timeline.worst.is_empty() {
        return;
    }
    let worst: Vec<String> =
        timeline.worst.iter().map(|w| format!("{:.2} ms at {:.1} s", w.slowest_ms, w.at_s)).collect();
    let _ = writeln!(
        out,
        "  {} slowest call per {} ms slice: median {:.2} ms; worst {}",
        target.name(),
        timeline.slice_ms,
        timeline.median_slowest_ms,
        worst.join(", ")
    );
}

/// One line on the seconds the hypervisor left the machine alone: how
/// many, and the latency of their calls.
fn render_quiet(out: &mut String, target: Target, quiet: &QuietSeconds) {
    let seconds = format!(
        "{} of {} s in which the hypervisor took at most {:.2} cores",
        quiet.quiet, quiet.sampled, quiet.max_stolen_cores
    );
    let _ = match &quiet.latency {
        Some(latency) => writeln!(
            out,
            "  {} on the {seconds}: {} calls, p50 {:.2} ms, p99 {:.2} ms, p999 {:.2} ms",
            target.name(),
            thousands(quiet.calls),
            latency.p50_ms,
            latency.p99_ms,
            latency.p999_ms
        ),
        None => writeln!(out, "  {} on the {seconds}: no calls", target.name()),
    };
}

/// A ratio as `8.46x`, with three decimals below 1 (`0.004x`) so that a
/// small ratio does not show as `0.00x`.
fn times(ratio: f64) -> String {
    if ratio > 0.0 && ratio < 1.0 { format!("{ratio:.3}x") } else { format!("{ratio:.2}x") }
}

/// The first `count` lines of `text`, with a marker if there were more.
fn first_lines(text: &str, count: usize) -> String {
    let mut lines = text.lines();
    let kept: Vec<&str> = lines.by_ref().take(count).collect();
    let mut out = kept.join("\n            ");
    if lines.next().is_some() {
        out.push_str(" [...]");
    }
    out
}

/// `1234567` as `1,234,567`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::bench::cpu::MachineCpu;
    use crate::bench::latency::SlowSlice;

    fn measured(ops_per_s: f64, p99_ms: f64) -> Outcome {
        Outcome::Measured(Box::new(Measurement {
            ops: (ops_per_s * 10.0) as u64,
            ops_per_s,
            errors: 0,
            errors_by_kind: BTreeMap::new(),
            latency: LatencySummary { p50_ms: 1.0, p99_ms, p999_ms: p99_ms * 2.0, max_ms: 100.0, mean_ms: 1.5 },
            timeline: TimelineSummary {
                slice_ms: 100,
                median_slowest_ms: 3.5,
                worst: vec![SlowSlice { at_s: 5.6, slowest_ms: 44.0 }, SlowSlice { at_s: 1.8, slowest_ms: 33.25 }],
                slowest_ms: vec![3.5; 100],
            },
            quiet: Some(QuietSeconds {
                max_stolen_cores: 0.02,
                quiet: 9,
                sampled: 10,
                calls: (ops_per_s * 9.0) as u64,
                latency: Some(LatencySummary {
                    p50_ms: 1.0,
                    p99_ms: p99_ms / 2.0,
                    p999_ms: p99_ms,
                    max_ms: 50.0,
                    mean_ms: 1.2,
                }),
            }),
            commands_per_entry: None,
            cpu: Some(CpuUsage {
                server_cores: 1.25,
                client_cores: 0.5,
                machine: Some(MachineCpu {
                    busy_cores: 1.8,
                    idle_cores: 0.1,
                    stolen_cores: 0.1,
                    stolen_cores_by_second: vec![0.0; 10],
                }),
            }),
            notes: vec![],
        }))
    }

    fn report(results: Vec<TargetResult>) -> Report {
        Report {
            machine: Machine { cpu_model: "Test CPU".into(), cores: 2, memory_gib: 24.0, ..Machine::default() },
            load: LoadConfig {
                pacing: Pacing::ClosedLoop,
                concurrency: 256,
                warmup: Duration::from_secs(2),
                duration: Duration::from_secs(10),
                call_timeout: Duration::from_secs(10),
            },
            workloads: vec![WorkloadReport::new(Workload::Hot, 1, results)],
        }
    }

    #[test]
    fn ratios_pair_every_measured_target() {
        let results = vec![
            TargetResult { target: Target::Ledger, outcome: measured(15_000.0, 12.0) },
            TargetResult { target: Target::Postgres, outcome: measured(3_000.0, 90.0) },
            TargetResult { target: Target::Redis, outcome: measured(60_000.0, 5.0) },
        ];
        let report = WorkloadReport::new(Workload::Hot, 1, results);
        assert_eq!(report.ratio(Target::Ledger, Target::Postgres), Some(5.0));
        assert_eq!(report.ratio(Target::Ledger, Target::Redis), Some(0.25));
        let p99 =
            |target, peer| report.ratios.iter().find(|r| r.target == target && r.peer == peer).unwrap().p99_latency;
        assert_eq!(p99(Target::Redis, Target::Ledger), Some(5.0 / 12.0));
        assert_eq!(p99(Target::Postgres, Target::Redis), Some(18.0));
        assert_eq!(report.ratio(Target::Redis, Target::Postgres), Some(20.0));
        assert_eq!(report.ratio(Target::Ledger, Target::Ledger), None);
        assert_eq!(report.ratios.len(), 6);
    }

    #[test]
    fn skipped_and_zero_throughput_peers_have_no_ratio() {
        let results = vec![
            TargetResult { target: Target::Ledger, outcome: measured(15_000.0, 12.0) },
            TargetResult { target: Target::Postgres, outcome: Outcome::Skipped { reason: "not installed".into() } },
            TargetResult { target: Target::Redis, outcome: measured(0.0, 0.0) },
        ];
        let report = WorkloadReport::new(Workload::Hot, 1, results);
        assert_eq!(report.ratio(Target::Ledger, Target::Postgres), None);
        assert_eq!(report.ratio(Target::Ledger, Target::Redis), None, "no division by zero");
        assert_eq!(report.ratio(Target::Redis, Target::Ledger), Some(0.0));
        let redis_vs_ledger = report.ratios.iter().find(|r| r.target == Target::Redis).unwrap();
        assert_eq!(redis_vs_ledger.p99_latency, Some(0.0));
        let ledger_vs_redis = report.ratios.iter().find(|r| r.target == Target::Ledger && r.peer == Target::Redis);
        assert!(ledger_vs_redis.is_none(), "a peer with no throughput has no ratio at all");
    }

    #[test]
    fn the_table_shows_figures_ratios_skips_and_the_goal() {
        let text = report(vec![
            TargetResult { target: Target::Ledger, outcome: measured(16_000.0, 12.5) },
            TargetResult { target: Target::Postgres, outcome: measured(3_200.0, 95.0) },
            TargetResult {
                target: Target::Redis,
                outcome: Outcome::Skipped { reason: "redis-server not found".into() },
            },
        ])
        .render();
        assert!(text.contains("machine: Test CPU, 2 cores, 24.0 GiB"), "{text}");
        assert!(text.contains("16,000"), "{text}");
        assert!(text.contains("5.00x"), "ledger vs postgres: {text}");
        assert!(text.contains("0.200x"), "postgres vs ledger: {text}");
        assert!(text.contains("redis     skipped: redis-server not found"), "{text}");
        assert!(text.contains("goal (ledger, hot SKU)") && text.contains(": met ("), "{text}");
        assert!(text.contains("servers 1.25 cores, load generator 0.50 cores"), "{text}");
        assert!(text.contains("whole machine 1.80 busy, 0.10 idle, 0.10 stolen by the hypervisor"), "{text}");
        assert!(text.contains("p99 latency 0.132x postgres's"), "ledger 12.5 ms vs postgres 95 ms: {text}");
        assert!(text.contains("256 concurrent callers, closed loop"), "{text}");
        assert!(
            text.contains(
                "ledger on the 9 of 10 s in which the hypervisor took at most 0.02 cores: 144,000 calls, p50 1.00 ms, p99 6.25 ms, p999 12.50 ms"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "ledger slowest call per 100 ms slice: median 3.50 ms; worst 44.00 ms at 5.6 s, 33.25 ms at 1.8 s"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_fixed_rate_run_says_so() {
        let mut fixed = report(vec![TargetResult { target: Target::Ledger, outcome: measured(15_000.0, 12.0) }]);
        fixed.load.pacing = Pacing::FixedRate { per_s: 15_000 };
        let text = fixed.render();
        assert!(text.contains("open loop, 15,000 calls/s on a fixed schedule, at most 256 in flight"), "{text}");
        assert!(text.contains(": met ("), "{text}");
    }

    #[test]
    fn a_missed_goal_and_errors_are_reported() {
        let Outcome::Measured(mut slow) = measured(9_000.0, 25.0) else { unreachable!() };
        slow.errors = 3;
        slow.errors_by_kind.insert("timeout".into(), ErrorCount { count: 3, example: "no answer within 10s".into() });
        let failed = Outcome::Failed { reason: "postgres exited".into() };
        let report = report(vec![
            TargetResult { target: Target::Ledger, outcome: Outcome::Measured(slow) },
            TargetResult { target: Target::Postgres, outcome: failed },
        ]);
        let text = report.render();
        assert!(text.contains("NOT met"), "{text}");
        assert!(text.contains("ledger errors: 3 x timeout (e.g. no answer within 10s)"), "{text}");
        assert!(text.contains("postgres  FAILED: postgres exited"), "{text}");
        assert!(report.has_failures());
    }

    #[test]
    fn json_names_statuses_and_ratios() {
        let report = report(vec![
            TargetResult { target: Target::Ledger, outcome: measured(10_000.0, 10.0) },
            TargetResult { target: Target::Redis, outcome: Outcome::Skipped { reason: "absent".into() } },
        ]);
        let json = serde_json::to_value(&report).unwrap();
        let results = &json["workloads"][0]["results"];
        assert_eq!(results[0]["target"], "ledger");
        assert_eq!(results[0]["status"], "measured");
        assert_eq!(results[0]["ops_per_s"], 10_000.0);
        assert_eq!(results[1]["status"], "skipped");
        assert_eq!(results[1]["reason"], "absent");
        assert_eq!(json["workloads"][0]["workload"], "hot");
        assert_eq!(json["load"]["duration"], 10.0);
    }

    #[test]
    fn small_ratios_keep_their_digits() {
        assert_eq!(times(8.4567), "8.46x");
        assert_eq!(times(0.2), "0.200x");
        assert_eq!(times(0.0044), "0.004x");
        assert_eq!(times(0.0), "0.00x");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(2_900), "2,900");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
