//! The chaos harness (DESIGN.md §8), first slice: one region of three real
//! `regiond` processes, a flash sale on one hot SKU, one named fault
//! applied on a schedule drawn from the seed, and checkers over the
//! recorded history and the state read after healing.
//!
//! ```sh
//! cargo build -p regions --bins && cargo build -p chaos-tests --bins
//! target/debug/chaos list
//! target/debug/chaos run --scenario leader-kill --seed 7 --duration 10 --json run.json --report run.html
//! target/debug/chaos suite --duration 8 --report suite.html
//! target/debug/chaos run --scenario minority-partition --seed 7 --target region.toml
//! ```
//!
//! `--report` writes a self-contained HTML page (throughput and latency per
//! second with the fault windows shaded, the checkers, the reproduce
//! command); `--target` drives an existing region instead of launching one
//! (see [`target`]).
//!
//! A run: launch `--regions` regions (fault injection on), each its own
//! group with its own warehouses and SKUs; in each, register the
//! warehouses and receive the opening stock; then, for `duration`, the
//! workloads' clients (`--workload`) send their operations while the
//! nemesis applies its fault; then every fault is healed, a leader
//! awaited, and the final state read: every level, hold, order and journal
//! entry the checkers need, and every replica's applied index and state
//! digest (polled until they agree or a bound passes). The checkers then
//! judge each region.
//!
//! # Layout
//!
//! - [`history`]: the operation history and its recorder.
//! - [`workload`]: the workloads' clients (flash sale, mixed, warehouse,
//!   idempotence) and the region's catalog and opening stock.
//! - [`final_read`]: the state read after healing.
//! - [`nemesis`]: the faults and their windows.
//! - [`checker`]: the checkers, pure, unit-tested on bad histories.
//! - [`linearizability`]: the linearizability checker (a Wing–Gong search).
//! - [`replay`]: the model replay of a replica's committed log.
//! - [`report`]: the per-second series and the HTML report.
//! - [`rng`]: the seeded PRNG every choice comes from.
//! - [`target`]: what a run drives: a launched region or an existing deployment.
//! - [`cli`]: the `chaos` command line (`src/bin/chaos.rs` is a shim).

pub mod checker;
pub mod cli;
pub mod final_read;
pub mod history;
pub mod linearizability;
pub mod nemesis;
pub mod replay;
pub mod report;
pub mod rng;
pub mod target;
pub mod workload;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use protos::admin::ClusterStatusRequest;
use protos::admin::admin_client::AdminClient;
use region_client::{BatcherConfig, ClientConfig, RegionClient, ReserveBatcher};
use serde::Serialize;

use crate::cluster::{Cluster, ClusterSpec, ClusterTokens, NodeTuning, Ports};
use checker::{FinalState, ReplicaView, Verdict};
use history::{Level, Op, Recorder};
use nemesis::{FaultWindow, Scenario};
use target::{Deployment, Target};
use workload::{Catalog, RegionClients, Worker, Workload, WorkloadConfig};

/// Replicas of the region under test.
pub const REPLICAS: u64 = 3;

/// The region's name (with `-N` appended when a run has several).
const REGION: &str = "chaos";

/// How long the region may take to elect a leader (at start and after
/// healing).
const LEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long replicas may take to agree after healing.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(20);

/// What one run does.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The `regiond` executable.
    pub regiond: PathBuf,
    /// The faults the nemesis may apply.
    pub scenario: Scenario,
    /// Replicas of each region (3 or 5).
    pub replicas: u64,
    /// The seed every choice follows from.
    pub seed: u64,
    /// How long the workload and the nemesis run, in seconds.
    pub duration_secs: u64,
    /// Concurrent workload clients.
    pub clients: usize,
    /// Units of the hot SKU received before the sale.
    pub stock: u64,
    /// Each workload call's overall deadline (retries included); past it
    /// a write ends indeterminate.
    pub call_deadline: Duration,
    /// Keep the run's directory (configs, data, logs) even when it passed.
    pub keep_dir: bool,
    /// The workloads, assigned to each region's clients round robin.
    pub workloads: Vec<Workload>,
    /// Independent regions run side by side, each its own Raft group with
    /// its own warehouses and SKUs, each checked on its own.
    pub regions: u64,
    /// An existing deployment (one region) to run against instead of
    /// launching regions: no process is started or signalled.
    pub target: Option<Deployment>,
    /// Launch the nodes in regiond's deliberately unsafe test mode: leaders
    /// acknowledge writes before replicating them. Only a regiond built
    /// for regions' own tests accepts it (any other refuses to start); it
    /// exists to show the checkers catch lost acknowledgements.
    pub unsafe_ack_before_commit: bool,
}

/// What one run found.
#[derive(Clone, Debug, Serialize)]
pub struct RunResult {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The workload's duration, in seconds.
    pub duration_secs: u64,
    /// Ops in the history.
    pub ops: usize,
    /// Acknowledged ops.
    pub ok: usize,
    /// Definitely failed ops.
    pub failed: usize,
    /// Ops whose outcome the client could not know.
    pub indeterminate: usize,
    /// Indeterminate ops the final read found applied.
    pub indeterminate_applied: usize,
    /// Indeterminate ops the final read found not applied.
    pub indeterminate_not_applied: usize,
    /// The faults applied.
    pub faults: Vec<FaultWindow>,
    /// The workloads that ran.
    pub workloads: Vec<Workload>,
    /// The regions that ran.
    pub regions: u64,
    /// Every level of every region, read after healing.
    pub levels: Vec<Level>,
    /// Every checker's verdict (with several regions, one per checker and
    /// region, the detail naming the region).
    pub verdicts: Vec<Verdict>,
    /// Whether every checker passed.
    pub passed: bool,
    /// The command that repeats this run.
    pub reproduce: String,
    /// Where the run's files were kept (on failure or when asked).
    pub kept_dir: Option<PathBuf>,
    /// Throughput and latency per second, from the history.
    pub series: Vec<report::series::Second>,
    /// The history itself.
    pub history: Vec<Op>,
}

impl RunResult {
    /// The human-readable report: a summary, the fault windows, one
    /// PASS/FAIL line per checker and the reproduce command.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "== scenario {} seed {} duration {} s: {} ops (ok {}, failed {}, indeterminate {}: {} applied, {} not)",
            self.scenario,
            self.seed,
            self.duration_secs,
            self.ops,
            self.ok,
            self.failed,
            self.indeterminate,
            self.indeterminate_applied,
            self.indeterminate_not_applied,
        );
        let windows: Vec<String> = self
            .faults
            .iter()
            .map(|w| {
                format!("{} {} {:.2}-{:.2} s", w.fault, w.nodes_label(), w.start_us as f64 / 1e6, w.end_us as f64 / 1e6)
            })
            .collect();
        let _ = writeln!(out, "faults: {}", if windows.is_empty() { "none".to_owned() } else { windows.join(", ") });
        for verdict in &self.verdicts {
            let _ =
                writeln!(out, "{} {}: {}", if verdict.passed { "PASS" } else { "FAIL" }, verdict.name, verdict.detail);
        }
        if let Some(dir) = &self.kept_dir {
            let _ = writeln!(out, "files kept in {}", dir.display());
        }
        let _ = writeln!(out, "reproduce: {}", self.reproduce);
        out
    }
}

/// The command that repeats a run.
pub fn reproduce_command(scenario: &Scenario, seed: u64, duration_secs: u64) -> String {
    format!("chaos run --scenario {} --seed {seed} --duration {duration_secs}", scenario.name())
}

/// The command that repeats the run `config` describes: the scenario,
/// seed and duration, plus the workloads and regions when not the default.
pub fn reproduce(config: &RunConfig) -> String {
    let mut command = reproduce_command(&config.scenario, config.seed, config.duration_secs);
    if config.workloads != [Workload::FlashSale] {
        let names: Vec<&str> = config.workloads.iter().map(|w| w.name()).collect();
        let _ = write!(command, " --workload {}", names.join(","));
    }
    if config.regions != 1 {
        let _ = write!(command, " --regions {}", config.regions);
    }
    if config.replicas != REPLICAS {
        let _ = write!(command, " --replicas {}", config.replicas);
    }
    if let Some(deployment) = &config.target {
        let _ = write!(command, " --target {}", deployment.path.display());
    }
    command
}

/// The name of region `index` of a run of `count` regions.
fn region_name(index: u64, count: u64) -> String {
    if count == 1 { REGION.to_owned() } else { format!("{REGION}-{index}") }
}

/// Applied entries between a replica's own snapshots in chaos runs: a few
/// hundred a second are applied, so every replica snapshots several times
/// in a run, and every leader hands leadership over before each of its
/// own, under whatever fault the scenario injects.
const SNAPSHOT_EVERY: u64 = 500;

/// Log entries kept behind those snapshots: more than a run appends, so
/// the model-replay checker can still read a whole log.
const LOGS_KEPT: u64 = 1_000_000;

/// The nodes' settings for a run: fault injection on; the unsafe test
/// mode when asked for. With the crash-during-snapshot fault, no log kept
/// behind a snapshot, so that a new learner can only catch up by one (the
/// fault takes its own snapshots); otherwise a snapshot every
/// [`SNAPSHOT_EVERY`] entries with the whole log kept.
fn node_tuning(config: &RunConfig) -> NodeTuning {
    let snapshot_crash = config.scenario.faults().contains(&nemesis::Fault::SnapshotCrash);
    NodeTuning {
        fault_injection: true,
        logs_kept_after_snapshot: Some(if snapshot_crash { 0 } else { LOGS_KEPT }),
        snapshot_every: (!snapshot_crash).then_some(SNAPSHOT_EVERY),
        unsafe_ack_before_commit: config.unsafe_ack_before_commit,
        ..NodeTuning::default()
    }
}

/// Runs one scenario end to end. An `Err` means the harness could not run
/// or read the region (not a checker failure).
pub async fn run(config: &RunConfig) -> anyhow::Result<RunResult> {
    let dir = tempfile::Builder::new().prefix("chaos-").tempdir().context("cannot make a directory for the run")?;
    let recorder = Recorder::new(Instant::now());
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..config.regions {
        let (catalog, mut region) = match &config.target {
            Some(deployment) => {
                let region = Target::connect(deployment.clone(), !config.scenario.faults().is_empty()).await?;
                (Arc::new(Catalog::new(index, region.region())), region)
            }
            None => {
                let catalog = Arc::new(Catalog::new(index, &region_name(index, config.regions)));
                let cluster = launch(config, dir.path(), &catalog)?;
                (catalog, Target::Launched(cluster))
            }
        };
        let (config, recorder) = (config.clone(), recorder.clone());
        tasks.spawn(async move {
            let outcome = drive(&config, &catalog, &mut region, &recorder).await;
            region.shutdown();
            let region = catalog.region.clone();
            outcome.map(|(faults, state)| (catalog, faults, state)).with_context(|| format!("region {region}"))
        });
    }
    let mut regions = Vec::new();
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        match joined.context("a region's task failed").and_then(|outcome| outcome) {
            Ok(found) => regions.push(found),
            Err(error) => failure = failure.or(Some(error)),
        }
    }
    // A deployment's logs are its own: the directory holds nothing then.
    let launched = config.target.is_none();
    if let Some(error) = failure {
        if !launched {
            return Err(error);
        }
        let kept = dir.keep();
        return Err(error.context(format!("logs kept in {}", kept.display())));
    }
    regions.sort_by_key(|(catalog, ..)| catalog.index);

    let history = recorder.snapshot();
    let (mut verdicts, mut faults, mut levels) = (Vec::new(), Vec::new(), Vec::new());
    let (mut applied, mut not_applied) = (0, 0);
    for (catalog, region_faults, state) in regions {
        let ops: Vec<Op> = history.iter().filter(|op| op.region == catalog.region).cloned().collect();
        let quorum = nemesis::quorum::no_ack_without_quorum(&ops, &region_faults);
        let refused = nemesis::refused::damaged_replica_refused(&region_faults);
        for mut verdict in checker::check_all(&ops, &state).into_iter().chain(quorum).chain(refused) {
            if config.regions > 1 {
                verdict.detail = format!("region {}: {}", catalog.region, verdict.detail);
            }
            verdicts.push(verdict);
        }
        let settled = checker::settled_indeterminate(&ops, &state);
        (applied, not_applied) = (applied + settled.0, not_applied + settled.1);
        faults.extend(region_faults);
        levels.extend(state.levels);
    }
    let passed = verdicts.iter().all(|v| v.passed);
    let kept_dir = (launched && (!passed || config.keep_dir)).then(|| dir.keep());
    let (ok, failed, indeterminate) = history::outcome_counts(&history);
    Ok(RunResult {
        scenario: config.scenario.name().to_owned(),
        seed: config.seed,
        duration_secs: config.duration_secs,
        ops: history.len(),
        ok,
        failed,
        indeterminate,
        indeterminate_applied: applied,
        indeterminate_not_applied: not_applied,
        faults,
        workloads: config.workloads.clone(),
        regions: config.regions,
        levels,
        verdicts,
        passed,
        reproduce: reproduce(config),
        kept_dir,
        series: report::series::per_second(&history),
        history,
    })
}

/// Launches the region of `catalog` (one token per warehouse) under `dir`.
fn launch(config: &RunConfig, dir: &std::path::Path, catalog: &Catalog) -> anyhow::Result<Cluster> {
    let tokens =
        ClusterTokens::generate(catalog.warehouses.iter().map(String::as_str)).context("cannot generate tokens")?;
    let spec = ClusterSpec {
        regiond: config.regiond.clone(),
        dir: dir.join(&catalog.region),
        cluster_id: format!("chaos-{}-{}", config.seed, catalog.region),
        region: catalog.region.clone(),
        replicas: config.replicas,
        tokens,
        tuning: node_tuning(config),
        ports: Ports::OwnLoopback,
    };
    Ok(Cluster::launch(spec)?)
}

/// One region: setup, load with faults, healing and the final reads.
async fn drive(
    config: &RunConfig,
    catalog: &Arc<Catalog>,
    region: &mut Target,
    recorder: &Recorder,
) -> anyhow::Result<(Vec<FaultWindow>, FinalState)> {
    let leader = region.wait_for_leader(LEADER_TIMEOUT).await?;
    tracing::info!(leader, region = catalog.region, scenario = config.scenario.name(), seed = config.seed, "region up");
    let tokens = region.tokens().clone();
    let admin = region.client(&tokens.admin, Some(leader), ClientConfig::with_deadline(Duration::from_secs(10)))?;
    // Every worker's clients; `batcher` is shared, so that concurrent
    // workers' reservations share ReserveMany calls as a gateway's do.
    let clients = |call: &ClientConfig, batcher: &ReserveBatcher| -> anyhow::Result<RegionClients> {
        let mut warehouses = std::collections::BTreeMap::new();
        for warehouse in &catalog.warehouses {
            let token = region.warehouse_token(warehouse)?;
            warehouses.insert(warehouse.clone(), region.client(token, Some(leader), call.clone())?);
        }
        let service = region.client(&tokens.service, Some(leader), call.clone())?;
        Ok(RegionClients { service, batcher: batcher.clone(), warehouses })
    };
    let batcher = |call: &ClientConfig| -> anyhow::Result<ReserveBatcher> {
        let client = region.client(&tokens.service, Some(leader), call.clone())?;
        Ok(ReserveBatcher::new(client, BatcherConfig::default())?)
    };
    let setup = ClientConfig::with_deadline(LEADER_TIMEOUT);
    let opener = clients(&setup, &batcher(&setup)?)?;
    let opener = Worker::new(config.clients, config.seed, opener, catalog.clone(), recorder.clone());
    workload::setup::open_region(&admin, &opener, config.stock).await?;

    let call = ClientConfig::with_deadline(config.call_deadline);
    let shared = batcher(&call)?;
    let workers = (0..config.clients).map(|_| clients(&call, &shared)).collect::<anyhow::Result<Vec<_>>>()?;
    let load = WorkloadConfig {
        seed: config.seed,
        workloads: config.workloads.clone(),
        duration: Duration::from_secs(config.duration_secs),
        think: Duration::from_millis(20),
    };
    let until = Instant::now() + load.duration;
    // Region 0 follows the run's seed, so a one-region run keeps its schedule.
    let nemesis_seed = config.seed.wrapping_add(catalog.index);
    let (_, faults) = tokio::join!(
        workload::run(&load, catalog.clone(), workers, recorder),
        nemesis::run(&config.scenario, nemesis_seed, region, recorder.start(), until),
    );
    // Heal even when the nemesis stopped on an error, then report it.
    let healed = nemesis::heal_all(region).await;
    let faults = faults?;
    healed?;

    let leader = region.wait_for_leader(LEADER_TIMEOUT).await?;
    tracing::info!(leader, region = catalog.region, "healed; reading the final state");
    let reader = region.client(&tokens.admin, Some(leader), ClientConfig::with_deadline(Duration::from_secs(10)))?;
    let mut state = final_read::read(&reader, catalog, &recorder.snapshot()).await?;
    state.replicas = converge(region, &reader).await;
    let nodes = region.nodes();
    state.log = replay::read::log_for_replay(&reader, &nodes, &catalog.region, &state.replicas).await;
    Ok((faults, state))
}

/// Every replica's own applied index and digest, polled until all agree
/// or [`CONVERGE_TIMEOUT`] passes; the last poll either way.
async fn converge(region: &Target, reader: &RegionClient) -> Vec<ReplicaView> {
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        let mut views = Vec::new();
        for (id, endpoint) in region.nodes() {
            let status = reader
                .call_endpoint(&endpoint, "Admin/ClusterStatus", ClusterStatusRequest::default(), |channel, r| async {
                    AdminClient::new(channel).cluster_status(r).await
                })
                .await
                .ok()
                .and_then(|s| s.groups.into_iter().next());
            views.push(match status {
                Some(group) => {
                    ReplicaView { node: id, applied_index: Some(group.applied_index), digest: hex(&group.state_digest) }
                }
                None => ReplicaView { node: id, applied_index: None, digest: String::new() },
            });
        }
        let agreed = views.windows(2).all(|w| w[0].applied_index == w[1].applied_index)
            && views.iter().all(|v| v.applied_index.is_some());
        if agreed || Instant::now() > deadline {
            return views;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
