//! The `chaos` command line: `list`, `run` and `suite`, as a library
//! function so `src/bin/chaos.rs` only hands it the arguments and stdout.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use super::nemesis::{Fault, Scenario};
use super::target::{Deployment, check_scenario};
use super::workload::Workload;
use super::{RunConfig, RunResult};

/// The chaos harness: runs a region of real `regiond` processes under a
/// flash sale while a named fault is applied, then checks the history (no
/// oversell, conservation, no lost acknowledgement, no phantom, replica
/// convergence). Exit code 0 only if every checker passed.
#[derive(Debug, Parser)]
#[command(name = "chaos", version)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// The `regiond` executable (default: next to this program).
    #[arg(long, global = true, value_name = "PATH")]
    pub regiond: Option<PathBuf>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Lists the scenarios.
    List,
    /// Runs one scenario.
    Run(RunArgs),
    /// Runs every scenario, one after the other.
    Suite(SuiteArgs),
}

/// Settings every run shares.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// Seconds of load (and faults) per scenario, 1 to 3600.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,
    /// Concurrent workload clients, 1 to 256.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub clients: u64,
    /// Units of the hot SKU received before the sale, 1 to 1000000.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub stock: u64,
    /// Each workload call's deadline in milliseconds (retries included),
    /// 100 to 60000; shorter deadlines leave more writes indeterminate.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub call_deadline_ms: u64,
    /// Write the result(s) as JSON to this file: the verdict, the
    /// reproduce command, the faults, the per-second series, the checkers'
    /// verdicts and the history (a suite: `{passed, seed, runs: [...]}`).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML report to this file: throughput and
    /// latency over time with the fault windows shaded, the checkers, the
    /// reproduce command (a suite: one section per run).
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Keep every run's directory (configs, data, logs), not only failed ones.
    #[arg(long)]
    pub keep_dirs: bool,
    /// Replicas of each region: 3 or 5.
    #[arg(long, default_value_t = super::REPLICAS, value_parser = parse_replicas)]
    pub replicas: u64,
    /// The workloads, comma-separated (`all` for every one); each region's
    /// clients take them round robin.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "flash-sale")]
    pub workload: Vec<WorkloadChoice>,
    /// Independent regions run at once (each its own group, warehouses and
    /// SKUs, checked on its own), 1 to 8.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=8))]
    pub regions: u64,
}

/// A `--workload` value: one workload, or all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkloadChoice {
    /// Many clients reserve one unit of one hot SKU and read its level.
    FlashSale,
    /// Reserves over many SKUs and two warehouses; commits, releases, expiries.
    Mixed,
    /// Receipts, damage, shrink, transfers and shipments.
    Warehouse,
    /// Every command sent three times at once, and again later.
    Idempotence,
    /// Every workload.
    All,
}

impl Common {
    /// The workloads chosen, each once, in the order given.
    pub fn workloads(&self) -> Vec<Workload> {
        let mut chosen = Vec::new();
        for choice in &self.workload {
            let picked = match choice {
                WorkloadChoice::FlashSale => vec![Workload::FlashSale],
                WorkloadChoice::Mixed => vec![Workload::Mixed],
                WorkloadChoice::Warehouse => vec![Workload::Warehouse],
                WorkloadChoice::Idempotence => vec![Workload::Idempotence],
                WorkloadChoice::All => Workload::ALL.to_vec(),
            };
            for workload in picked {
                if !chosen.contains(&workload) {
                    chosen.push(workload);
                }
            }
        }
        chosen
    }
}

/// `chaos run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The scenario (see `chaos list`): a fault, a named combination, or
    /// faults joined by commas (each window applies one of them).
    #[arg(long)]
    pub scenario: Scenario,
    /// The seed every choice follows from.
    #[arg(long)]
    pub seed: u64,
    /// Run against the existing region this TOML file describes (its nodes
    /// and tokens; see `chaos_tests::chaos::target`) instead of launching
    /// one: no process is started or signalled, so only faults that work
    /// through the nodes' admin API are allowed.
    #[arg(long, value_name = "FILE.toml", conflicts_with_all = ["regions", "replicas"])]
    pub target: Option<PathBuf>,
    /// Shared settings.
    #[command(flatten)]
    pub common: Common,
}

/// `chaos suite`.
#[derive(Debug, clap::Args)]
pub struct SuiteArgs {
    /// The seed of every run (default: drawn from the clock, and printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Only these faults, comma-separated (default: every fault, one run
    /// each).
    #[arg(long, value_delimiter = ',', value_parser = parse_fault)]
    pub faults: Vec<Fault>,
    /// Shared settings.
    #[command(flatten)]
    pub common: Common,
}

/// Runs `args` (with `exe` this program's path, beside which `regiond` is
/// looked for), writing the report to `out`. `Ok(true)` when every checker
/// of every run passed.
pub async fn execute(args: &Args, exe: &Path, out: &mut impl Write) -> anyhow::Result<bool> {
    let regiond = args.regiond.clone().unwrap_or_else(|| exe.with_file_name("regiond"));
    let (scenarios, seed, common, target) = match &args.command {
        Command::List => {
            for fault in Fault::ALL {
                writeln!(out, "{:<20} {}", fault.name(), fault.describe())?;
            }
            writeln!(out, "\ncombinations (one of their faults per window; faults joined by commas work too):")?;
            for combo in Scenario::combos() {
                writeln!(out, "{:<20} {}", combo.name(), combo.describe())?;
            }
            return Ok(true);
        }
        Command::Run(run) => {
            let target = run.target.as_deref().map(Deployment::load).transpose()?;
            (vec![run.scenario.clone()], run.seed, &run.common, target)
        }
        Command::Suite(suite) => {
            (suite_scenarios(&suite.faults), suite.seed.unwrap_or_else(clock_seed), &suite.common, None)
        }
    };
    for scenario in &scenarios {
        check_scenario(scenario, target.as_ref())?;
    }
    if target.is_none() && !regiond.is_file() {
        anyhow::bail!(
            "no regiond executable at {}; build it with `cargo build -p regions --bins` (or pass --regiond PATH)",
            regiond.display()
        );
    }
    let mut results: Vec<RunResult> = Vec::new();
    for scenario in scenarios {
        let config = RunConfig {
            regiond: regiond.clone(),
            scenario: scenario.clone(),
            replicas: common.replicas,
            seed,
            duration_secs: common.duration,
            clients: usize::try_from(common.clients).unwrap_or(1),
            stock: common.stock,
            call_deadline: std::time::Duration::from_millis(common.call_deadline_ms),
            keep_dir: common.keep_dirs,
            workloads: common.workloads(),
            regions: common.regions,
            target: target.clone(),
            unsafe_ack_before_commit: false,
        };
        let result = super::run(&config).await.with_context(|| {
            format!("scenario {} could not be run; reproduce: {}", scenario.name(), super::reproduce(&config))
        })?;
        out.write_all(result.render().as_bytes())?;
        out.flush()?;
        results.push(result);
    }
    let passed = results.iter().all(|r| r.passed);
    if results.len() > 1 {
        writeln!(
            out,
            "== suite: {} of {} scenarios passed (seed {seed})",
            results.iter().filter(|r| r.passed).count(),
            results.len()
        )?;
        for failed in results.iter().filter(|r| !r.passed) {
            writeln!(out, "failed: {}", failed.reproduce)?;
        }
    }
    if let Some(path) = &common.json {
        let json = if let [one] = results.as_slice() {
            serde_json::to_string_pretty(one)?
        } else {
            serde_json::to_string_pretty(&SuiteResult { passed, seed, runs: &results })?
        };
        std::fs::write(path, json + "\n").with_context(|| format!("cannot write {}", path.display()))?;
        writeln!(out, "JSON result: {}", path.display())?;
    }
    if let Some(path) = &common.report {
        super::report::write_html(path, &results)?;
        writeln!(out, "HTML report: {}", path.display())?;
    }
    Ok(passed)
}

/// A suite's JSON result: its verdict and seed, then every run's.
#[derive(Debug, serde::Serialize)]
struct SuiteResult<'a> {
    /// Whether every checker of every run passed.
    passed: bool,
    /// The seed every run used.
    seed: u64,
    /// Each run's result.
    runs: &'a [RunResult],
}

/// The suite's runs: every fault once (or those of `only`), in
/// [`Fault::ALL`]'s order.
fn suite_scenarios(only: &[Fault]) -> Vec<Scenario> {
    Fault::ALL.into_iter().filter(|fault| only.is_empty() || only.contains(fault)).map(Scenario::single).collect()
}

/// A `--replicas` value: 3 or 5.
fn parse_replicas(text: &str) -> Result<u64, String> {
    match text.trim() {
        "3" => Ok(3),
        "5" => Ok(5),
        other => Err(format!("`{other}`: a region has 3 or 5 replicas")),
    }
}

/// A `--faults` value: a fault's name.
fn parse_fault(text: &str) -> Result<Fault, String> {
    Fault::from_name(text.trim()).ok_or_else(|| format!("unknown fault `{text}` (see `chaos list`)"))
}

/// A seed from the clock, for a suite run without `--seed`.
fn clock_seed() -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    u64::try_from(nanos % 1_000_000_007).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("chaos").chain(args.iter().copied()))
    }

    #[test]
    fn workloads_are_a_deduplicated_list_and_regions_bounded() {
        let workloads = |args: &[&str]| {
            let Command::Run(run) = parse(args).unwrap().command else { panic!("not run") };
            (run.common.workloads(), run.common.regions)
        };
        let base = ["run", "--scenario", "none", "--seed", "1"];
        assert_eq!(workloads(&base), (vec![Workload::FlashSale], 1));
        let mixed_all = [&base[..], &["--workload", "mixed,all", "--regions", "3"]].concat();
        let expected = vec![Workload::Mixed, Workload::FlashSale, Workload::Warehouse, Workload::Idempotence];
        assert_eq!(workloads(&mixed_all), (expected, 3));
        assert!(parse(&[&base[..], &["--workload", "nope"]].concat()).is_err());
        assert!(parse(&[&base[..], &["--regions", "0"]].concat()).is_err());
    }

    #[test]
    fn run_takes_scenario_seed_and_duration() {
        let args = parse(&["run", "--scenario", "leader-kill", "--seed", "7", "--duration", "8"]).unwrap();
        let Command::Run(run) = args.command else { panic!("not run") };
        assert_eq!((run.scenario, run.seed, run.common.duration), (Scenario::single(Fault::LeaderKill), 7, 8));
        assert_eq!(run.common.replicas, 3);
        assert!(parse(&["run", "--scenario", "nope", "--seed", "1"]).is_err());
        assert!(parse(&["run", "--scenario", "pause"]).is_err(), "the seed is required");
        assert!(parse(&["suite", "--duration", "0"]).is_err());
    }

    #[test]
    fn every_scenario_name_parses_and_reproduces() {
        let singles = Fault::ALL.into_iter().map(Scenario::single);
        let list = "leader-kill,ring".parse::<Scenario>().unwrap();
        for scenario in singles.chain(Scenario::combos()).chain([list]) {
            let command = super::super::reproduce_command(&scenario, 3, 5);
            let words: Vec<&str> = command.split(' ').skip(1).collect();
            let Command::Run(run) = parse(&words).unwrap().command else { panic!("not run") };
            assert_eq!((run.scenario, run.seed, run.common.duration), (scenario, 3, 5));
        }
    }

    #[test]
    fn replicas_are_three_or_five_and_the_suite_takes_a_fault_list() {
        let args = parse(&["run", "--scenario", "split", "--seed", "1", "--replicas", "5"]).unwrap();
        let Command::Run(run) = args.command else { panic!("not run") };
        assert_eq!(run.common.replicas, 5);
        assert!(parse(&["run", "--scenario", "split", "--seed", "1", "--replicas", "4"]).is_err());
        let Command::Suite(suite) = parse(&["suite", "--faults", "leader-kill,pause"]).unwrap().command else {
            panic!("not suite")
        };
        let names: Vec<String> = suite_scenarios(&suite.faults).iter().map(|s| s.name().to_owned()).collect();
        assert_eq!(names, ["leader-kill", "pause"]);
        assert_eq!(suite_scenarios(&[]).len(), Fault::ALL.len(), "by default every fault runs once");
        assert!(parse(&["suite", "--faults", "nope"]).is_err());
    }

    #[tokio::test]
    async fn list_names_every_scenario() {
        let mut out = Vec::new();
        assert!(execute(&parse(&["list"]).unwrap(), Path::new("/nonexistent/chaos"), &mut out).await.unwrap());
        let text = String::from_utf8(out).unwrap();
        for fault in Fault::ALL {
            assert!(text.contains(fault.name()), "{text}");
        }
        for combo in Scenario::combos() {
            assert!(text.contains(combo.name()), "{text}");
        }
    }

    #[tokio::test]
    async fn a_missing_regiond_is_named() {
        let args = parse(&["run", "--scenario", "none", "--seed", "1"]).unwrap();
        let error = execute(&args, Path::new("/nonexistent/chaos"), &mut Vec::new()).await.unwrap_err().to_string();
        assert!(error.contains("/nonexistent/regiond"), "{error}");
    }
}
