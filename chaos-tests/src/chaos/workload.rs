//! The flash-sale workload: `clients` concurrent clients, each reserving
//! one unit of one hot SKU at a time (fresh hold and command ids) through a
//! [`RegionClient`] with the service token, and now and then receiving a
//! few units with the warehouse's token. Every op goes into the
//! [`Recorder`]. Which op a client sends next follows from the seed.

use std::time::{Duration, Instant};

use protos::reservation::reservations_client::ReservationsClient;
use protos::reservation::{AllocationPolicy, ReserveLine, ReserveRequest, SplitMode};
use region_client::{ClientError, RegionClient};

use super::history::{Op, OpKind, Outcome, Recorder};
use super::rng::SplitMix64;
use crate::seed;

/// The hot SKU every client reserves.
pub const HOT_SKU: &str = "flash-sku";

/// The one warehouse its stock is in.
pub const WAREHOUSE: &str = "wh-chaos";

/// Holds live far longer than a run, so none expires while it is checked.
pub const HOLD_TTL_MS: u64 = 30 * 60 * 1000;

/// What the workload does.
#[derive(Clone, Debug)]
pub struct WorkloadConfig {
    /// The run's seed (command ids include it; choices follow from it).
    pub seed: u64,
    /// Concurrent clients.
    pub clients: usize,
    /// How long clients start new ops.
    pub duration: Duration,
    /// One op in this many is a receipt (the rest are reserves).
    pub receive_one_in: u64,
    /// Most units one receipt brings.
    pub receive_max: u64,
    /// Pause between a client's ops.
    pub think: Duration,
}

/// Each worker's two clients: one with the service token (reserves) and
/// one with the warehouse's token (receipts).
#[derive(Clone, Debug)]
pub struct WorkerClients {
    /// Sends reserves.
    pub service: RegionClient,
    /// Sends receipts.
    pub warehouse: RegionClient,
}

/// Runs the workload until `config.duration` has passed since it started
/// (ops in flight finish), recording into `recorder`.
pub async fn run(config: &WorkloadConfig, clients: Vec<WorkerClients>, recorder: &Recorder) {
    let until = Instant::now() + config.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for (worker, pair) in clients.into_iter().enumerate().take(config.clients) {
        let (config, recorder) = (config.clone(), recorder.clone());
        tasks.spawn(async move {
            let mut rng = SplitMix64::derive(config.seed, worker as u64);
            while Instant::now() < until {
                let op = if rng.one_in(config.receive_one_in) {
                    let quantity = rng.range(1, config.receive_max);
                    receive_op(&pair.warehouse, &recorder, config.seed, worker, quantity).await
                } else {
                    reserve_op(&pair.service, &recorder, config.seed, worker, 1).await
                };
                tracing::trace!(?op, "op");
                tokio::time::sleep(config.think).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// One reserve of `quantity` units of [`HOT_SKU`] with a fresh id, recorded.
pub async fn reserve_op(client: &RegionClient, recorder: &Recorder, seed: u64, worker: usize, quantity: u64) -> Op {
    let id = recorder.next_id();
    let hold_id = format!("hold-{seed}-{id}");
    let request = ReserveRequest {
        command_id: hold_id.clone(),
        hold_id: hold_id.clone(),
        lines: vec![ReserveLine { sku: HOT_SKU.into(), quantity }],
        policy: Some(AllocationPolicy { preferred_warehouse_ids: Vec::new(), mode: SplitMode::SplitAllowed.into() }),
        ttl_ms: HOLD_TTL_MS,
        owner: String::new(),
    };
    let invoke_us = recorder.now_us();
    let result = client
        .call("Reservations/Reserve", request, |channel, request| async move {
            ReservationsClient::new(channel).reserve(request).await
        })
        .await;
    finish(recorder, id, worker, OpKind::Reserve { hold_id, quantity }, invoke_us, &result)
}

/// One receipt of `quantity` units of [`HOT_SKU`] with a fresh id, recorded.
pub async fn receive_op(client: &RegionClient, recorder: &Recorder, seed: u64, worker: usize, quantity: u64) -> Op {
    let id = recorder.next_id();
    let request = seed::receipt(&format!("receive-{seed}-{id}"), WAREHOUSE, HOT_SKU, quantity, "chaos flash sale");
    let invoke_us = recorder.now_us();
    let result = seed::adjust_stock(client, request).await;
    finish(recorder, id, worker, OpKind::Receive { quantity }, invoke_us, &result)
}

fn finish<T>(
    recorder: &Recorder,
    id: u64,
    client: usize,
    kind: OpKind,
    invoke_us: u64,
    result: &Result<T, ClientError>,
) -> Op {
    if let Err(error) = result {
        tracing::debug!(id, %error, "op failed");
    }
    let op = Op { id, client, kind, invoke_us, complete_us: recorder.now_us(), outcome: Outcome::of(result) };
    recorder.record(op.clone());
    op
}
