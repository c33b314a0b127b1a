//! Warehouse operations: receipts, damage and shrink adjustments,
//! transfers between the region's warehouses, and shipments
//! (`ConfirmShipment`) of orders it reserved and committed itself.

use super::{Worker, take_any};
use crate::chaos::history::{Adjustment, OpKind};

/// Most units one receipt brings.
const RECEIVE_MAX: u64 = 5;

/// Most units one damage, shrink or transfer moves.
const MOVE_MAX: u64 = 3;

/// Sends the next warehouse op(s): a shipment sends one confirmation per
/// warehouse the order's lines are at.
pub async fn step(worker: &mut Worker) {
    let catalog = worker.catalog.clone();
    let sku = worker.pick(&catalog.skus).unwrap_or(&catalog.hot_sku).to_owned();
    let warehouse = worker.pick(&catalog.warehouses).unwrap_or(catalog.home()).to_owned();
    let quantity = worker.rng.range(1, MOVE_MAX);
    let kind = match worker.rng.range(0, 9) {
        0..=1 => {
            let quantity = worker.rng.range(1, RECEIVE_MAX);
            worker.adjustment(Adjustment::Receive, &warehouse, &sku, quantity)
        }
        2 => worker.adjustment(Adjustment::Damage, &warehouse, &sku, quantity),
        3 => worker.adjustment(Adjustment::Shrink, &warehouse, &sku, quantity),
        4..=5 => {
            let Some(to) = catalog.warehouses.iter().find(|w| **w != warehouse) else { return };
            OpKind::Transfer { command_id: worker.fresh_id("transfer"), from: warehouse, to: to.clone(), sku, quantity }
        }
        _ => return order_flow(worker, &sku, quantity).await,
    };
    worker.submit(kind).await;
}

/// Ships a committed order if it has one, else commits a held one, else
/// reserves.
async fn order_flow(worker: &mut Worker, sku: &str, quantity: u64) {
    if let Some((order_id, mut warehouses)) = take_any(&mut worker.rng, &mut worker.memory.orders) {
        warehouses.sort();
        warehouses.dedup();
        for warehouse in warehouses {
            let kind = OpKind::Ship { command_id: worker.fresh_id("ship"), warehouse, order_id: order_id.clone() };
            worker.submit(kind).await;
        }
    } else if !worker.commit_remembered().await {
        worker.reserve_and_remember(sku, quantity).await;
    }
}
