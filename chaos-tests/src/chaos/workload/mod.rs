//! The workloads: concurrent clients that send operations to one region
//! and record each in the [`Recorder`]. Every choice follows from the seed.
//!
//! A run composes one or more [`Workload`]s: worker `i` of a region runs
//! the `i`-th workload of the list (round robin), so `--workload all` with
//! eight clients runs two clients of each. A workload is one `step`: the
//! next operation (or a few) a client sends. Shopper checkouts through the
//! HTTP gateway will be one more variant whose step drives the gateway.
//!
//! # Layout
//!
//! - [`catalog`]: the warehouses and SKUs of a region and their opening stock.
//! - [`calls`]: [`Worker::submit`], the one place an [`OpKind`] becomes an
//!   RPC and a recorded [`Op`](super::history::Op).
//! - [`setup`]: the warehouses and opening stock, before the load.
//! - [`flash_sale`], [`mixed`], [`warehouse`], [`idempotence`]: one step each.

pub mod calls;
pub mod catalog;
pub mod flash_sale;
pub mod idempotence;
pub mod mixed;
pub mod setup;
pub mod warehouse;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use region_client::{RegionClient, ReserveBatcher};
use serde::Serialize;

pub use catalog::Catalog;

use super::history::{Adjustment, OpKind, Recorder};
use super::rng::SplitMix64;

/// Holds that live far longer than a run, so none expires while it is
/// checked (the short-lived ones of [`mixed`] are the exception).
pub const HOLD_TTL_MS: u64 = 30 * 60 * 1000;

/// Most ids a worker remembers per list (holds to end, orders to ship,
/// commands to resend): the oldest is forgotten first.
const MEMORY_MAX: usize = 64;

/// One kind of client traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Many clients reserve one unit of one hot SKU (stock far below
    /// demand), read its availability linearizably, and now and then
    /// receive a few units.
    FlashSale,
    /// Reserves of 1..3 units over many SKUs and two warehouses (split
    /// allowed), then commits, releases, and short holds left to expire.
    Mixed,
    /// Receipts, damage and shrink adjustments, transfers between the
    /// warehouses, and shipments of the orders it commits.
    Warehouse,
    /// Sends each command several times, concurrently and again later
    /// (after faults), with the same id and payload.
    Idempotence,
}

impl Workload {
    /// Every workload, in `--workload all` order.
    pub const ALL: [Self; 4] = [Self::FlashSale, Self::Mixed, Self::Warehouse, Self::Idempotence];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::FlashSale => "flash-sale",
            Self::Mixed => "mixed",
            Self::Warehouse => "warehouse",
            Self::Idempotence => "idempotence",
        }
    }

    /// Sends this workload's next operation(s) from `worker`.
    async fn step(self, worker: &mut Worker) {
        match self {
            Self::FlashSale => flash_sale::step(worker).await,
            Self::Mixed => mixed::step(worker).await,
            Self::Warehouse => warehouse::step(worker).await,
            Self::Idempotence => idempotence::step(worker).await,
        }
    }
}

/// What the workload clients of one region do.
#[derive(Clone, Debug)]
pub struct WorkloadConfig {
    /// The run's seed (command ids include it; choices follow from it).
    pub seed: u64,
    /// The workloads, assigned to the clients round robin.
    pub workloads: Vec<Workload>,
    /// How long clients start new ops.
    pub duration: Duration,
    /// Pause between a client's steps.
    pub think: Duration,
}

/// One worker's clients: the service token (holds, orders, reads) and one
/// per warehouse token (adjustments, transfers and shipments from it).
#[derive(Clone, Debug)]
pub struct RegionClients {
    /// Sends reserves (every other one), commits, releases and reads.
    pub service: RegionClient,
    /// Sends the other reserves as `ReserveMany` batches, shared by the
    /// region's workers: both reservation paths meet every fault.
    pub batcher: ReserveBatcher,
    /// By warehouse id: sends that warehouse's stock operations.
    pub warehouses: BTreeMap<String, RegionClient>,
}

/// What a worker remembers between steps, each list bounded by
/// `MEMORY_MAX`.
#[derive(Clone, Debug, Default)]
pub struct Memory {
    /// Acknowledged long-lived holds not yet committed or released.
    pub pending: VecDeque<String>,
    /// Holds it released (a later commit of one must fail).
    pub released: VecDeque<String>,
    /// Committed orders not yet shipped, with the warehouses of their lines.
    pub orders: VecDeque<(String, Vec<String>)>,
    /// Commands it sent, to send again (idempotence).
    pub sent: VecDeque<OpKind>,
}

/// Pushes `item` onto `list`, forgetting the oldest past `MEMORY_MAX`.
pub fn remember<T>(list: &mut VecDeque<T>, item: T) {
    if list.len() >= MEMORY_MAX {
        list.pop_front();
    }
    list.push_back(item);
}

/// Takes a random element out of `list`.
pub fn take_any<T>(rng: &mut SplitMix64, list: &mut VecDeque<T>) -> Option<T> {
    let last = u64::try_from(list.len()).ok()?.checked_sub(1)?;
    let index = usize::try_from(rng.range(0, last)).ok()?;
    list.remove(index)
}

/// One client of one region: its clients, its PRNG stream, the region's
/// catalog, the shared recorder and its memory.
#[derive(Debug)]
pub struct Worker {
    /// The worker's number in its region (the history's `client`).
    pub id: usize,
    /// The run's seed (part of every command id).
    pub seed: u64,
    /// Its own PRNG stream.
    pub rng: SplitMix64,
    /// Its clients.
    pub clients: RegionClients,
    /// The region's warehouses and SKUs.
    pub catalog: Arc<Catalog>,
    /// Where its ops go.
    pub recorder: Recorder,
    /// What it remembers between steps.
    pub memory: Memory,
}

impl Worker {
    /// Worker `id` of `catalog`'s region.
    pub fn new(id: usize, seed: u64, clients: RegionClients, catalog: Arc<Catalog>, recorder: Recorder) -> Self {
        let stream = (catalog.index << 16) ^ id as u64;
        Self { id, seed, rng: SplitMix64::derive(seed, stream), clients, catalog, recorder, memory: Memory::default() }
    }

    /// A fresh id for a new command (or hold, or order): unique in the run.
    pub fn fresh_id(&self, prefix: &str) -> String {
        format!("{prefix}-{}-{}", self.seed, self.recorder.next_id())
    }

    /// A random element of `items` (`None` when empty).
    pub fn pick<'a>(&mut self, items: &'a [String]) -> Option<&'a str> {
        let last = u64::try_from(items.len()).ok()?.checked_sub(1)?;
        items.get(usize::try_from(self.rng.range(0, last)).ok()?).map(String::as_str)
    }

    /// A new stock adjustment of `quantity` units of `sku` at `warehouse`.
    pub fn adjustment(&self, reason: Adjustment, warehouse: &str, sku: &str, quantity: u64) -> OpKind {
        OpKind::Adjust {
            command_id: self.fresh_id("adjust"),
            warehouse: warehouse.into(),
            sku: sku.into(),
            reason,
            quantity,
        }
    }

    /// A new reserve of `quantity` units of `sku` living `ttl_ms`.
    pub fn reservation(&self, sku: &str, quantity: u64, ttl_ms: u64) -> OpKind {
        let hold_id = self.fresh_id("hold");
        OpKind::Reserve { command_id: hold_id.clone(), hold_id, sku: sku.into(), quantity, ttl_ms }
    }

    /// The commit of `hold_id` (one command and one order id per hold, so
    /// the final read can tell whether it applied).
    pub fn commit_of(hold_id: &str) -> OpKind {
        OpKind::Commit { command_id: format!("commit-{hold_id}"), hold_id: hold_id.into(), order_id: order_of(hold_id) }
    }

    /// The release of `hold_id` (one command id per hold).
    pub fn release_of(hold_id: &str) -> OpKind {
        OpKind::Release { command_id: format!("release-{hold_id}"), hold_id: hold_id.into() }
    }

    /// Reserves `quantity` of `sku` (long-lived) and remembers the hold when
    /// acknowledged.
    pub async fn reserve_and_remember(&mut self, sku: &str, quantity: u64) {
        let kind = self.reservation(sku, quantity, HOLD_TTL_MS);
        let hold_id = kind.hold_id().unwrap_or_default().to_owned();
        if self.submit(kind).await.op.outcome == super::history::Outcome::Ok {
            remember(&mut self.memory.pending, hold_id);
        }
    }

    /// Commits a remembered pending hold, remembering the order to ship.
    /// Returns false when there was none.
    pub async fn commit_remembered(&mut self) -> bool {
        let Some(hold_id) = take_any(&mut self.rng, &mut self.memory.pending) else { return false };
        let done = self.submit(Self::commit_of(&hold_id)).await;
        if done.op.outcome == super::history::Outcome::Ok {
            remember(&mut self.memory.orders, (order_of(&hold_id), done.warehouses));
        }
        true
    }
}

/// The order a commit of `hold_id` creates.
fn order_of(hold_id: &str) -> String {
    format!("order-{hold_id}")
}

/// Runs `config`'s workloads on `clients` (one worker each) until
/// `config.duration` has passed (ops in flight finish), recording into
/// `recorder`.
pub async fn run(config: &WorkloadConfig, catalog: Arc<Catalog>, clients: Vec<RegionClients>, recorder: &Recorder) {
    let until = Instant::now() + config.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for ((id, clients), workload) in clients.into_iter().enumerate().zip(config.workloads.iter().copied().cycle()) {
        let mut worker = Worker::new(id, config.seed, clients, catalog.clone(), recorder.clone());
        let think = config.think;
        tasks.spawn(async move {
            while Instant::now() < until {
                workload.step(&mut worker).await;
                tokio::time::sleep(think).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_bounded_and_taken_from() {
        let mut list = VecDeque::new();
        for i in 0..(MEMORY_MAX + 5) {
            remember(&mut list, i);
        }
        assert_eq!(list.len(), MEMORY_MAX);
        assert_eq!(list.front(), Some(&5));
        let mut rng = SplitMix64::new(1);
        let taken = take_any(&mut rng, &mut list).unwrap();
        assert!(!list.contains(&taken));
        assert_eq!(take_any(&mut rng, &mut VecDeque::<u8>::new()), None);
    }

    #[test]
    fn commit_and_release_ids_follow_the_hold() {
        let OpKind::Commit { command_id, order_id, .. } = Worker::commit_of("hold-1-2") else { panic!() };
        assert_eq!((command_id.as_str(), order_id.as_str()), ("commit-hold-1-2", "order-hold-1-2"));
        assert_eq!(Worker::release_of("h").command_id(), Some("release-h"));
    }
}
