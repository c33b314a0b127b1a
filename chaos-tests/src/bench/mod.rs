//! `bench`: the same reservation workload against this system and against
//! the approaches it replaces, run locally in one invocation, durable
//! settings everywhere (DESIGN.md §9, issue #3).
//!
//! ```sh
//! cargo build --release -p regions -p chaos-tests
//! target/release/bench --workload all                       # every target, both workloads
//! target/release/bench --workload hot --targets ledger --duration 10 --json bench.json
//! target/release/bench --workload hot --rate 15000            # p99 at a fixed 15,000 calls/s
//! ```
//!
//! Targets, each started fresh in a temporary directory and stopped at the
//! end (and on failure):
//!
//! - `ledger`: a 3-replica region of real `regiond` processes on 127.0.0.1
//!   (fsync on: the Raft log is synced before a write is acknowledged).
//!   Each call reserves one unit, new command and hold ids, a short hold
//!   TTL, sent with the service token through a
//!   `region_client::ReserveBatcher` per gRPC connection (concurrent calls
//!   share `ReserveMany` calls), or with `--unbatched` as one
//!   `Reservations.Reserve` each.
//! - `postgres`: a throwaway PostgreSQL cluster (`fsync=on`,
//!   `synchronous_commit=on`), one autocommit
//!   `UPDATE stock SET qty = qty - 1 WHERE sku = $1 AND qty >= 1` per call,
//!   over a pool of connections.
//! - `redis`: `redis-server --appendonly yes --appendfsync always`, one
//!   `EVALSHA` of a Lua check-and-decrement per call, over multiplexed
//!   connections.
//!
//! A peer that is not installed is reported as skipped, never estimated.
//! Workloads: `hot` (every call takes a unit of one SKU) and `spread` (a
//! SKU chosen at random among 10,000). The report gives ops/s, p50/p99/p999
//! latency, errors, the throughput and p99 ratios of every target against
//! every other measured in the same run, and the machine.
//!
//! # Layout
//!
//! - [`cli`]: the command line, and the [`Settings`] it yields.
//! - [`workload`]: the workloads and the load generator (closed loop, or
//!   open loop at a fixed rate with latency from each call's schedule).
//! - [`latency`]: HDR histograms and percentiles.
//! - [`ledger_target`], [`postgres_target`], [`redis_target`]: set up a
//!   target, seed stock, drive the load, tear down.
//! - [`report`]: the table and the JSON; [`machine`] and [`cpu`]: what
//!   the machine is and how much of it each side used, from `/proc`;
//!   [`steal`]: what the hypervisor took, second by second, and the
//!   latency over the seconds it left the machine alone.
//! - [`crate::cluster`] launches the `regiond` processes (shared with the
//!   chaos harness).

pub mod cli;
pub mod cpu;
pub mod latency;
pub mod ledger_target;
pub mod machine;
pub mod postgres_target;
pub mod redis_target;
pub mod report;
pub mod steal;
pub mod workload;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::cluster::ClusterError;
use cpu::{CpuSample, CpuUsage};
use machine::Machine;
use report::{Measurement, Outcome, Report, TargetResult, WorkloadReport};
use steal::QuietSeconds;
use workload::{Call, CallError, LoadConfig, LoadResult, Skus, Workload, run_load};

/// What the load is run against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// This system: a 3-replica region of `regiond` processes.
    Ledger,
    /// PostgreSQL row locks.
    Postgres,
    /// Redis with a Lua check-and-decrement.
    Redis,
}

impl Target {
    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ledger => "ledger",
            Self::Postgres => "postgres",
            Self::Redis => "redis",
        }
    }
}

/// Everything a run needs, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Workloads, in order.
    pub workloads: Vec<Workload>,
    /// Targets, in order, without duplicates.
    pub targets: Vec<Target>,
    /// How the load is applied.
    pub load: LoadConfig,
    /// SKUs of the spread workload.
    pub spread_skus: usize,
    /// gRPC connections to the region; multiplexed Redis connections.
    pub connections: usize,
    /// PostgreSQL connections (at most the concurrency).
    pub pg_connections: usize,
    /// TTL of each reservation's hold, in milliseconds.
    pub hold_ttl_ms: u64,
    /// The region's `max_in_flight` (Raft entries proposed and not yet
    /// applied); `None`: regiond's default.
    pub max_in_flight: Option<usize>,
    /// Whether region reservations go through the client's batcher
    /// (`ReserveMany`) rather than one `Reserve` call each.
    pub batched: bool,
    /// Where temporary data directories are made.
    pub work_dir: PathBuf,
    /// The `regiond` executable.
    pub regiond: PathBuf,
    /// Keep the temporary directories (data, configs, logs) after the run.
    pub keep_dirs: bool,
}

/// Why a target could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The target is not available on this machine (not installed, no user
    /// to run it as): reported as skipped.
    #[error("{0}")]
    Unavailable(String),
    /// The region could not be launched or failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// Setting a target up failed.
    #[error("{0}")]
    Setup(String),
    /// A PostgreSQL call failed outside the measured calls.
    #[error("postgres: {what}: {source}")]
    Postgres {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: tokio_postgres::Error,
    },
    /// A Redis call failed outside the measured calls.
    #[error("redis: {what}: {source}")]
    Redis {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: redis::RedisError,
    },
}

/// An [`Error::Io`] maker for `map_err`.
pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// A temporary directory under `settings.work_dir`, readable by other
/// users (a database server may run as its own user), kept after the run
/// if asked.
pub(crate) fn work_dir(settings: &Settings, prefix: &str) -> Result<tempfile::TempDir, Error> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&settings.work_dir)
        .map_err(io(format!("cannot make a directory in {}", settings.work_dir.display())))?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(io(format!("cannot open up {}", dir.path().display())))?;
    let mut dir = dir;
    dir.disable_cleanup(settings.keep_dirs);
    if settings.keep_dirs {
        tracing::info!(dir = %dir.path().display(), "keeping the target's directory");
    }
    Ok(dir)
}

/// Runs the load ([`run_load`]) and samples the CPU time of `servers` (and
/// their child processes) and of this process at the start and the end of
/// the measured window, and the machine's stolen time every second of it.
pub(crate) async fn measure<F, Fut>(
    load: &LoadConfig,
    skus: &Skus,
    servers: Vec<u32>,
    call: F,
) -> (LoadResult, Option<CpuUsage>)
where
    F: Fn(Call) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), CallError>> + Send + 'static,
{
    let start = {
        let (servers, warmup) = (servers.clone(), load.warmup);
        tokio::spawn(async move {
            tokio::time::sleep(warmup).await;
            CpuSample::take(&servers)
        })
    };
    let stolen = tokio::spawn(steal::stolen_by_second(load.warmup, load.duration));
    let result = run_load(load, skus, call).await;
    let end = CpuSample::take(&servers);
    let mut usage = start.await.ok().map(|start| start.usage_until(&end));
    if let Some(machine) = usage.as_mut().and_then(|usage| usage.machine.as_mut()) {
        machine.stolen_cores_by_second = stolen.await.unwrap_or_default();
    }
    (result, usage)
}

/// A measurement from a load result, the CPU it used and notes.
pub(crate) fn measurement(result: &LoadResult, cpu: Option<CpuUsage>, notes: Vec<String>) -> Measurement {
    let cores = machine::logical_cores().max(1);
    let quiet = cpu
        .as_ref()
        .and_then(|cpu| cpu.machine.as_ref())
        .map(|machine| QuietSeconds::of(&result.by_second, &machine.stolen_cores_by_second, cores));
    Measurement {
        ops: result.successes,
        ops_per_s: result.ops_per_s(),
        errors: result.error_count(),
        errors_by_kind: result.errors.clone(),
        latency: result.latency.summary(),
        timeline: result.timeline.summary(),
        quiet,
        commands_per_entry: None,
        cpu,
        notes,
    }
}

/// Runs every target on every workload (target by target, so only one
/// system runs at a time) and reports.
pub async fn run(settings: &Settings) -> Report {
    let mut by_workload: Vec<(Workload, Vec<TargetResult>)> =
        settings.workloads.iter().map(|&w| (w, Vec::new())).collect();
    for &target in &settings.targets {
        tracing::info!(target = target.name(), "starting");
        let mut measured: Vec<(Workload, Measurement)> = Vec::new();
        let ran = match target {
            Target::Ledger => ledger_target::run(settings, &mut measured).await,
            Target::Postgres => postgres_target::run(settings, &mut measured).await,
            Target::Redis => redis_target::run(settings, &mut measured).await,
        };
        if let Err(error) = &ran {
            tracing::warn!(target = target.name(), %error, "the target stopped with an error");
        }
        for (workload, results) in &mut by_workload {
            let outcome = match (measured.iter().find(|(w, _)| w == workload), &ran) {
                (Some((_, m)), _) => Outcome::Measured(Box::new(m.clone())),
                (None, Err(Error::Unavailable(reason))) => Outcome::Skipped { reason: reason.clone() },
                (None, Err(error)) => Outcome::Failed { reason: error.to_string() },
                (None, Ok(())) => Outcome::Failed { reason: "the target did not run this workload".into() },
            };
            if let Outcome::Measured(m) = &outcome {
                tracing::info!(
                    target = target.name(),
                    workload = workload.name(),
                    ops_per_s = m.ops_per_s.round(),
                    p99_ms = m.latency.p99_ms,
                    errors = m.errors,
                    "measured"
                );
            } else {
                tracing::warn!(target = target.name(), workload = workload.name(), outcome = ?outcome, "not measured");
            }
            results.push(TargetResult { target, outcome });
        }
    }
    Report {
        machine: Machine::describe(&settings.work_dir),
        load: settings.load,
        workloads: by_workload
            .into_iter()
            .map(|(workload, results)| {
                WorkloadReport::new(workload, workload.skus(settings.spread_skus).len(), results)
            })
            .collect(),
    }
}

/// How long a target may take to start and accept calls.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Calls in flight while seeding stock.
pub(crate) const SEED_CONCURRENCY: usize = 64;
