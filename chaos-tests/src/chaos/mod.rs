//! The chaos harness (DESIGN.md §8), first slice: one region of three real
//! `regiond` processes, a flash sale on one hot SKU, one named fault
//! applied on a schedule drawn from the seed, and checkers over the
//! recorded history and the state read after healing.
//!
//! ```sh
//! cargo build -p regions --bins && cargo build -p chaos-tests --bins
//! target/debug/chaos list
//! target/debug/chaos run --scenario leader-kill --seed 7 --duration 10 --json run.json
//! target/debug/chaos suite --duration 8
//! ```
//!
//! A run: launch the region (fault injection on), register the warehouse,
//! receive the initial stock; then, for `duration`, the workload's clients
//! reserve and receive while the nemesis applies its fault; then every
//! fault is healed, a leader awaited, and the final state read: the hot
//! SKU's level, every hold the history reserved (`GetHold`), and every
//! replica's applied index and state digest (polled until they agree or a
//! bound passes). The checkers then judge.
//!
//! # Layout
//!
//! - [`history`]: the operation history and its recorder.
//! - [`workload`]: the flash-sale clients.
//! - [`nemesis`]: the faults and their windows.
//! - [`checker`]: the checkers, pure, unit-tested on bad histories.
//! - [`report`]: the per-second series and the HTML report.
//! - [`rng`]: the seeded PRNG every choice comes from.
//! - [`target`]: what a run drives: a launched region or an existing deployment.
//! - [`cli`]: the `chaos` command line (`src/bin/chaos.rs` is a shim).

pub mod checker;
pub mod cli;
pub mod history;
pub mod nemesis;
pub mod report;
pub mod rng;
pub mod target;
pub mod workload;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use protos::admin::admin_client::AdminClient;
use protos::admin::{ClusterStatusRequest, Warehouse};
use protos::reservation::reservations_client::ReservationsClient;
use protos::reservation::{GetHoldRequest, HoldState};
use protos::warehouse::GetLevelsRequest;
use protos::warehouse::warehouse_inventory_client::WarehouseInventoryClient;
use region_client::{ClientConfig, ClientError, RegionClient};
use serde::Serialize;

use crate::cluster::{Cluster, ClusterSpec, ClusterTokens, NodeTuning, Ports};
use crate::seed;
use checker::{FinalHold, FinalLevel, FinalState, HoldStatus, ReplicaView, Verdict};
use history::{Op, Recorder};
use nemesis::{FaultWindow, Scenario};
use workload::{HOT_SKU, WAREHOUSE, WorkerClients, WorkloadConfig};

/// Replicas of the region under test.
pub const REPLICAS: u64 = 3;

/// The region's name.
const REGION: &str = "chaos";

/// How long the region may take to elect a leader (at start and after
/// healing).
const LEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long replicas may take to agree after healing.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(20);

/// Concurrent `GetHold` reads in the final phase.
const READ_CONCURRENCY: usize = 16;

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
    /// Indeterminate reserves whose hold exists (they were applied).
    pub indeterminate_applied: usize,
    /// Indeterminate reserves that were not applied.
    pub indeterminate_not_applied: usize,
    /// The faults applied.
    pub faults: Vec<FaultWindow>,
    /// The final level of the hot SKU.
    pub level: FinalLevel,
    /// Every checker's verdict.
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
                format!("{} node {} {:.2}-{:.2} s", w.fault, w.node, w.start_us as f64 / 1e6, w.end_us as f64 / 1e6)
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

/// The nodes' settings for `scenario`: fault injection on; with the
/// crash-during-snapshot fault, no log kept behind a snapshot, so that a new
/// learner can only catch up by one.
fn node_tuning(scenario: &Scenario) -> NodeTuning {
    let snapshots = scenario.faults().contains(&nemesis::Fault::SnapshotCrash);
    NodeTuning { fault_injection: true, logs_kept_after_snapshot: snapshots.then_some(0), ..NodeTuning::default() }
}

/// Runs one scenario end to end. An `Err` means the harness could not run
/// or read the region (not a checker failure).
pub async fn run(config: &RunConfig) -> anyhow::Result<RunResult> {
    let dir = tempfile::Builder::new().prefix("chaos-").tempdir().context("cannot make a directory for the run")?;
    let tokens = ClusterTokens::generate([WAREHOUSE]).context("cannot generate tokens")?;
    let spec = ClusterSpec {
        regiond: config.regiond.clone(),
        dir: dir.path().to_owned(),
        cluster_id: format!("chaos-{}", config.seed),
        region: REGION.into(),
        replicas: config.replicas,
        tokens,
        tuning: node_tuning(&config.scenario),
        ports: Ports::OwnLoopback,
    };
    let mut cluster = Cluster::launch(spec)?;
    let outcome = drive(config, &mut cluster).await;
    cluster.shutdown();
    let (history, faults, state) = match outcome {
        Ok(found) => found,
        Err(error) => {
            let kept = dir.keep();
            return Err(error.context(format!("logs kept in {}", kept.display())));
        }
    };
    let mut verdicts = checker::check_all(&history, &state);
    verdicts.extend(nemesis::quorum::no_ack_without_quorum(&history, &faults));
    let passed = verdicts.iter().all(|v| v.passed);
    let kept_dir = (!passed || config.keep_dir).then(|| dir.keep());
    let (ok, failed, indeterminate) = history::outcome_counts(&history);
    let (applied, not_applied, _) = checker::settled_indeterminate(&history, &state);
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
        level: state.level,
        verdicts,
        passed,
        reproduce: reproduce_command(&config.scenario, config.seed, config.duration_secs),
        kept_dir,
        series: report::series::per_second(&history),
        history,
    })
}

/// Setup, load with faults, healing and the final reads.
async fn drive(config: &RunConfig, cluster: &mut Cluster) -> anyhow::Result<(Vec<Op>, Vec<FaultWindow>, FinalState)> {
    let leader = cluster.wait_for_leader(LEADER_TIMEOUT).await?;
    tracing::info!(leader, scenario = config.scenario.name(), seed = config.seed, "region up");
    let tokens = cluster.spec().tokens.clone();
    let admin = cluster.client(&tokens.admin, Some(leader), ClientConfig::with_deadline(Duration::from_secs(10)))?;
    register_warehouse(&admin).await?;

    let recorder = Recorder::new(Instant::now());
    let setup =
        cluster.client(&tokens.warehouses[WAREHOUSE], Some(leader), ClientConfig::with_deadline(LEADER_TIMEOUT))?;
    let initial = workload::receive_op(&setup, &recorder, config.seed, config.clients, config.stock).await;
    anyhow::ensure!(initial.outcome == history::Outcome::Ok, "the initial stock could not be received");

    let call = ClientConfig::with_deadline(config.call_deadline);
    let clients = (0..config.clients)
        .map(|_| {
            Ok(WorkerClients {
                service: cluster.client(&tokens.service, Some(leader), call.clone())?,
                warehouse: cluster.client(&tokens.warehouses[WAREHOUSE], Some(leader), call.clone())?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let load = WorkloadConfig {
        seed: config.seed,
        clients: config.clients,
        duration: Duration::from_secs(config.duration_secs),
        receive_one_in: 8,
        receive_max: 4,
        think: Duration::from_millis(20),
    };
    let until = Instant::now() + load.duration;
    let (_, faults) = tokio::join!(
        workload::run(&load, clients, &recorder),
        nemesis::run(&config.scenario, config.seed, cluster, &admin, recorder.start(), until),
    );
    // Heal even when the nemesis stopped on an error, then report it.
    let healed = nemesis::heal_all(cluster, &admin).await;
    let faults = faults?;
    healed?;

    let leader = cluster.wait_for_leader(LEADER_TIMEOUT).await?;
    tracing::info!(leader, "healed; reading the final state");
    let history = recorder.snapshot();
    let reader = cluster.client(&tokens.admin, Some(leader), ClientConfig::with_deadline(Duration::from_secs(10)))?;
    let level = read_level(&reader).await?;
    let holds = read_holds(&reader, &history).await?;
    let replicas = converge(cluster, &reader).await;
    Ok((history, faults, FinalState { level, holds, replicas }))
}

async fn register_warehouse(admin: &RegionClient) -> anyhow::Result<()> {
    let warehouse = Warehouse {
        warehouse_id: WAREHOUSE.into(),
        region: REGION.into(),
        name: "Chaos warehouse".into(),
        location: "127.0.0.1".into(),
        priority: 1,
    };
    seed::register_warehouse(admin, "chaos-register", warehouse)
        .await
        .with_context(|| format!("registering {WAREHOUSE}"))
}

/// The hot SKU's level (a linearizable read on the leader).
async fn read_level(reader: &RegionClient) -> anyhow::Result<FinalLevel> {
    let request =
        GetLevelsRequest { warehouse_id: WAREHOUSE.into(), skus: vec![HOT_SKU.into()], page: None, stale: false };
    let response = reader
        .call("WarehouseInventory/GetLevels", request, |channel, request| async move {
            WarehouseInventoryClient::new(channel).get_levels(request).await
        })
        .await
        .context("reading the final level")?;
    let level = response
        .levels
        .into_iter()
        .find(|l| l.sku == HOT_SKU && l.warehouse_id == WAREHOUSE)
        .context("the final levels do not include the hot SKU")?;
    Ok(FinalLevel { on_hand: level.on_hand, held: level.held, allocated: level.allocated })
}

/// Every reserved hold id of `history`, read with `GetHold`.
async fn read_holds(reader: &RegionClient, history: &[Op]) -> anyhow::Result<BTreeMap<String, Option<FinalHold>>> {
    let ids: Vec<String> = history.iter().filter_map(Op::reserve).map(|(id, _)| id.to_owned()).collect();
    let mut tasks = tokio::task::JoinSet::new();
    let chunk = ids.len().div_ceil(READ_CONCURRENCY).max(1);
    for part in ids.chunks(chunk) {
        let (reader, part) = (reader.clone(), part.to_vec());
        tasks.spawn(async move {
            let mut found = Vec::with_capacity(part.len());
            for hold_id in part {
                let hold = read_hold(&reader, &hold_id).await?;
                found.push((hold_id, hold));
            }
            anyhow::Ok(found)
        });
    }
    let mut holds = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        holds.extend(joined.context("a read task failed")??);
    }
    Ok(holds)
}

async fn read_hold(reader: &RegionClient, hold_id: &str) -> anyhow::Result<Option<FinalHold>> {
    let request = GetHoldRequest { hold_id: hold_id.to_owned() };
    let result = reader
        .call("Reservations/GetHold", request, |channel, request| async move {
            ReservationsClient::new(channel).get_hold(request).await
        })
        .await;
    let hold = match result {
        Ok(hold) => hold,
        Err(ClientError::Rejected { status, .. }) if status.code() == tonic::Code::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("reading hold {hold_id}")),
    };
    let status = match HoldState::try_from(hold.state) {
        Ok(HoldState::Pending) => HoldStatus::Pending,
        Ok(HoldState::Committed) => HoldStatus::Committed,
        Ok(HoldState::Released) => HoldStatus::Released,
        Ok(HoldState::Expired) => HoldStatus::Expired,
        other => anyhow::bail!("hold {hold_id} has an unknown state {other:?}"),
    };
    let quantity = hold.allocations.iter().fold(0u64, |a, l| a.saturating_add(l.quantity));
    Ok(Some(FinalHold { status, quantity }))
}

/// Every replica's own applied index and digest, polled until all agree
/// or [`CONVERGE_TIMEOUT`] passes; the last poll either way.
async fn converge(cluster: &Cluster, reader: &RegionClient) -> Vec<ReplicaView> {
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        let mut views = Vec::new();
        for node in cluster.nodes() {
            let id = node.addrs.id;
            let endpoint = cluster.api_endpoints(Some(id)).into_iter().next();
            let status = match endpoint {
                Some(endpoint) => reader
                    .call_endpoint(
                        &endpoint,
                        "Admin/ClusterStatus",
                        ClusterStatusRequest::default(),
                        |channel, r| async { AdminClient::new(channel).cluster_status(r).await },
                    )
                    .await
                    .ok()
                    .and_then(|s| s.groups.into_iter().next()),
                None => None,
            };
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
