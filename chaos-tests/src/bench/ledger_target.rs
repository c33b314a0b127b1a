//! The `ledger` target: this system. A 3-replica region of real `regiond`
//! processes (fsync on), one warehouse, stock received, then
//! reservations of one unit each through [`RegionClient`]s, one per gRPC
//! connection: by default through each client's [`ReserveBatcher`]
//! (concurrent reservations share a `ReserveMany` call, as the gateway sends
//! them), with `--unbatched` as one `Reserve` call each.
//!
//! The leader's `regiond_proposals_per_entry` histogram is read (summed
//! over every node, so a leader change does not hide it) at the start and
//! the end of the measured window: its average is how many reservations
//! shared each Raft entry, append and fsync.

use std::net::SocketAddr;
use std::time::Duration;

use protos::admin::Warehouse;
use protos::reservation::reservations_client::ReservationsClient;
use protos::reservation::{AllocationPolicy, ReserveLine, ReserveRequest, SplitMode};
use region_client::error::code_name;
use region_client::{BatcherConfig, ClientConfig, ClientError, RegionClient, ReserveBatcher};

use super::report::Measurement;
use super::workload::{Call, CallError, STOCK_UNITS, Skus, Workload};
use super::{Error, SEED_CONCURRENCY, START_TIMEOUT, Settings, measure, measurement, work_dir};
use crate::cluster::{Cluster, ClusterSpec, ClusterTokens, NodeTuning, Ports, histogram_sum_count, metrics_page};
use crate::process::random_hex;
use crate::seed;

/// Replicas of the benchmarked region.
pub const REPLICAS: u64 = 3;

/// The region's name.
const REGION: &str = "bench";

/// The one warehouse all stock is in.
const WAREHOUSE: &str = "wh-bench";

/// The batching histogram regiond exports.
const BATCH_METRIC: &str = "regiond_proposals_per_entry";
/// The write-ahead log sync histogram regiond exports.
const WAL_SYNC_METRIC: &str = "regiond_wal_sync_seconds";

/// Runs the ledger on every workload of `settings`, appending what it
/// measured to `measured`.
pub async fn run(settings: &Settings, measured: &mut Vec<(Workload, Measurement)>) -> Result<(), Error> {
    // Checked before anything starts, with the command that fixes it.
    if !settings.regiond.is_file() {
        return Err(crate::cluster::ClusterError::MissingRegiond(settings.regiond.clone()).into());
    }
    let dir = work_dir(settings, "bench-ledger-")?;
    let tokens = ClusterTokens::generate([WAREHOUSE]).map_err(super::io("cannot generate tokens"))?;
    let spec = ClusterSpec {
        regiond: settings.regiond.clone(),
        dir: dir.path().to_owned(),
        cluster_id: format!("bench-{}", random_hex(4).map_err(super::io("cannot draw a cluster id"))?),
        region: REGION.into(),
        replicas: REPLICAS,
        tokens,
        tuning: NodeTuning { max_in_flight: settings.max_in_flight, ..NodeTuning::default() },
        ports: Ports::Free,
    };
    let mut cluster = Cluster::launch(spec)?;
    let leader = cluster.wait_for_leader(START_TIMEOUT).await?;
    tracing::info!(leader, dir = %dir.path().display(), "region up");

    let admin =
        cluster.client(&cluster.spec().tokens.admin, Some(leader), ClientConfig::with_deadline(START_TIMEOUT))?;
    register_warehouse(&admin).await?;
    for &workload in &settings.workloads {
        seed(&admin, &workload.skus(settings.spread_skus)).await?;
    }

    let service = cluster.spec().tokens.service.clone();
    let clients = (0..settings.connections)
        .map(|_| {
            let client =
                cluster.client(&service, Some(leader), ClientConfig::with_deadline(settings.load.call_timeout))?;
            Ok(if settings.batched {
                let batcher = ReserveBatcher::new(client, BatcherConfig::default())
                    .map_err(|e| Error::Setup(format!("the reservation batcher: {e}")))?;
                Reserver::Batched(batcher)
            } else {
                Reserver::Single(client)
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let metrics: Vec<SocketAddr> = cluster.nodes().iter().map(|n| n.addrs.metrics).collect();
    let pids: Vec<u32> = cluster.nodes().iter().filter_map(|n| n.pid()).collect();
    for &workload in &settings.workloads {
        let skus = workload.skus(settings.spread_skus);
        // The batching and sync counters at the start of the measured window.
        let before = {
            let (metrics, warmup) = (metrics.clone(), settings.load.warmup);
            tokio::spawn(async move {
                tokio::time::sleep(warmup).await;
                histogram_totals(&metrics).await
            })
        };
        let (callers, ttl_ms, prefix) = (clients.clone(), settings.hold_ttl_ms, workload.name());
        let (result, cpu) = measure(&settings.load, &skus, pids.clone(), move |call: Call| {
            let client = callers[call.worker % callers.len()].clone();
            async move { reserve(&client, prefix, call, ttl_ms).await }
        })
        .await;
        let after = histogram_totals(&metrics).await;
        // A node that died during the run makes the figures meaningless.
        cluster.check_running()?;
        let in_flight = settings.max_in_flight.map_or_else(|| "regiond's default".into(), |n| n.to_string());
        let mut m = measurement(
            &result,
            cpu,
            vec![format!(
                "{REPLICAS} regiond replicas on 127.0.0.1, Raft log fsynced before each answer; {} gRPC connections, {}; hold TTL {ttl_ms} ms; max_in_flight {in_flight}",
                clients.len(),
                if settings.batched {
                    "concurrent reservations batched into ReserveMany calls"
                } else {
                    "one Reserve call per reservation"
                }
            )],
        );
        let seconds = result.window.as_secs_f64();
        match (before.await, after) {
            (Ok(Ok([batches_before, syncs_before])), Ok([batches, syncs])) if batches.1 > batches_before.1 => {
                let (commands, entries) = (batches.0 - batches_before.0, batches.1 - batches_before.1);
                m.commands_per_entry = Some(commands / entries);
                m.notes.push(format!("{:.0} Raft entries/s", entries / seconds));
                let (sync_seconds, synced) = (syncs.0 - syncs_before.0, syncs.1 - syncs_before.1);
                if synced > 0.0 {
                    m.notes.push(format!(
                        "{:.0} WAL syncs/s over the replicas, {:.2} ms each on average",
                        synced / seconds,
                        1_000.0 * sync_seconds / synced
                    ));
                }
            }
            (before, after) => {
                m.notes.push(format!("batching not measured (metrics: {before:?}, {after:?})"));
            }
        }
        measured.push((workload, m));
    }
    drop(clients);
    drop(admin);
    cluster.shutdown();
    Ok(())
}

/// `(commands, entries)` proposed so far, over every node.
/// The `(sum, count)` of the batching and WAL sync histograms over every replica.
async fn histogram_totals(metrics: &[SocketAddr]) -> Result<[(f64, f64); 2], String> {
    let mut totals = [(0.0, 0.0); 2];
    for &addr in metrics {
        let page = metrics_page(addr).await?;
        for (total, name) in totals.iter_mut().zip([BATCH_METRIC, WAL_SYNC_METRIC]) {
            let (sum, count) = histogram_sum_count(&page, name);
            *total = (total.0 + sum, total.1 + count);
        }
    }
    Ok(totals)
}

/// How the load generator's callers reach the region.
#[derive(Clone)]
enum Reserver {
    /// Through a batcher: concurrent reservations share `ReserveMany` calls.
    Batched(ReserveBatcher),
    /// One `Reserve` call per reservation.
    Single(RegionClient),
}

/// One measured call: a hold of one unit of `call.sku`, new ids.
async fn reserve(reserver: &Reserver, prefix: &str, call: Call, ttl_ms: u64) -> Result<(), CallError> {
    let id = format!("{prefix}-{}-{}", call.worker, call.seq);
    let request = ReserveRequest {
        command_id: id.clone(),
        hold_id: id,
        lines: vec![ReserveLine { sku: call.sku.to_string(), quantity: 1 }],
        policy: Some(AllocationPolicy { preferred_warehouse_ids: Vec::new(), mode: SplitMode::SplitAllowed.into() }),
        ttl_ms,
        owner: String::new(),
    };
    let answer = match reserver {
        Reserver::Batched(batcher) => batcher.reserve(request).await,
        // Boxed: the retry engine's future is large, and unboxed it would
        // size (and make every spawn copy) every call's future, batched too.
        Reserver::Single(client) => {
            Box::pin(client.call("Reservations/Reserve", request, |channel, request| async move {
                ReservationsClient::new(channel).reserve(request).await
            }))
            .await
        }
    };
    answer.map(drop).map_err(|error| CallError::new(error_kind(&error), &error))
}

/// The report's name for a failed call.
fn error_kind(error: &ClientError) -> String {
    match error {
        ClientError::Rejected { status, .. } => format!("rejected {}", code_name(status.code())),
        ClientError::NoQuorum { .. } => "no quorum".into(),
        ClientError::Indeterminate { .. } => "outcome unknown".into(),
        ClientError::Unreachable { .. } => "no leader reached".into(),
    }
}

async fn register_warehouse(admin: &RegionClient) -> Result<(), Error> {
    let warehouse = Warehouse {
        warehouse_id: WAREHOUSE.into(),
        region: REGION.into(),
        name: "Benchmark warehouse".into(),
        location: "127.0.0.1".into(),
        priority: 1,
    };
    seed::register_warehouse(admin, "bench-register", warehouse)
        .await
        .map_err(|e| Error::Setup(format!("registering {WAREHOUSE}: {e}")))
}

/// Receives [`STOCK_UNITS`] of every SKU in `skus`, [`SEED_CONCURRENCY`]
/// calls at a time (they share Raft entries too).
async fn seed(admin: &RegionClient, skus: &Skus) -> Result<(), Error> {
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let chunk = skus.len().div_ceil(SEED_CONCURRENCY).max(1);
    for names in skus.names().chunks(chunk) {
        let (admin, names) = (admin.clone(), names.to_vec());
        tasks.spawn(async move {
            for sku in names {
                receive(&admin, &sku).await?;
            }
            Ok::<(), Error>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| Error::Setup(format!("a seeding task failed: {e}")))??;
    }
    tracing::info!(skus = skus.len(), elapsed_ms = started.elapsed().as_millis(), "stock received");
    Ok(())
}

async fn receive(admin: &RegionClient, sku: &str) -> Result<(), Error> {
    let request = seed::receipt(&format!("bench-receive-{sku}"), WAREHOUSE, sku, STOCK_UNITS, "benchmark stock");
    let deadline = Duration::from_secs(30);
    tokio::time::timeout(deadline, seed::adjust_stock(admin, request))
        .await
        .map_err(|_| Error::Setup(format!("receiving {sku}: no answer within {deadline:?}")))?
        .map_err(|e| Error::Setup(format!("receiving {sku}: {e}")))?;
    Ok(())
}
