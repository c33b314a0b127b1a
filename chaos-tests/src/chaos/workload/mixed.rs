//! Mixed reservations: many SKUs over the region's warehouses, 1 to
//! `RESERVE_MAX` units each with split allowed; then commits and releases
//! of the held ones, short holds ([`SHORT_TTL_MS`]) left to expire during
//! the run, now and then a commit of a hold it released (which must fail),
//! and receipts so the stock does not run dry.

use super::{Worker, remember, take_any};
use crate::chaos::history::{Adjustment, Outcome};

/// Most units one reserve asks for.
const RESERVE_MAX: u64 = 3;

/// The range of the short holds' time to live: they expire within it plus
/// one expiry tick, well inside a run.
pub const SHORT_TTL_MS: (u64, u64) = (1_000, 3_000);

/// Most units one receipt brings.
const RECEIVE_MAX: u64 = 5;

/// Sends the next mixed op.
pub async fn step(worker: &mut Worker) {
    let catalog = worker.catalog.clone();
    let sku = worker.pick(&catalog.skus).unwrap_or(&catalog.hot_sku).to_owned();
    let quantity = worker.rng.range(1, RESERVE_MAX);
    match worker.rng.range(0, 9) {
        0..=2 => worker.reserve_and_remember(&sku, quantity).await,
        3..=4 => {
            let ttl_ms = worker.rng.range(SHORT_TTL_MS.0, SHORT_TTL_MS.1);
            let kind = worker.reservation(&sku, quantity, ttl_ms);
            worker.submit(kind).await;
        }
        5..=6 => {
            if !worker.commit_remembered().await {
                worker.reserve_and_remember(&sku, quantity).await;
            }
        }
        7 => {
            let Some(hold_id) = take_any(&mut worker.rng, &mut worker.memory.pending) else { return };
            if worker.submit(Worker::release_of(&hold_id)).await.op.outcome == Outcome::Ok {
                remember(&mut worker.memory.released, hold_id);
            }
        }
        8 if !worker.memory.released.is_empty() && worker.rng.one_in(2) => {
            // A released hold must never become an order.
            let Some(hold_id) = take_any(&mut worker.rng, &mut worker.memory.released) else { return };
            worker.submit(Worker::commit_of(&hold_id)).await;
        }
        _ => {
            let warehouse = worker.pick(&catalog.warehouses).unwrap_or(catalog.home()).to_owned();
            let quantity = worker.rng.range(1, RECEIVE_MAX);
            let kind = worker.adjustment(Adjustment::Receive, &warehouse, &sku, quantity);
            worker.submit(kind).await;
        }
    }
}
