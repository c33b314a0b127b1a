//! The flash sale: one hot SKU, stock far below demand. A step reserves
//! one unit (a fresh, long-lived hold), or reads the SKU's level
//! linearizably (one in `READ_ONE_IN`; the linearizability checker
//! needs the value read with its invoke and complete times), or receives
//! a few units (one in `RECEIVE_ONE_IN`).

use super::{HOLD_TTL_MS, Worker};
use crate::chaos::history::{Adjustment, OpKind};

/// One step in this many is a receipt.
const RECEIVE_ONE_IN: u64 = 8;

/// Most units one receipt brings.
const RECEIVE_MAX: u64 = 4;

/// One step in this many (of those that are not receipts) is a read.
const READ_ONE_IN: u64 = 4;

/// Sends the next flash-sale op.
pub async fn step(worker: &mut Worker) {
    let (sku, home) = (worker.catalog.hot_sku.clone(), worker.catalog.home().to_owned());
    let kind = if worker.rng.one_in(RECEIVE_ONE_IN) {
        let quantity = worker.rng.range(1, RECEIVE_MAX);
        worker.adjustment(Adjustment::Receive, &home, &sku, quantity)
    } else if worker.rng.one_in(READ_ONE_IN) {
        OpKind::Read { sku, warehouse: home, level: None }
    } else {
        worker.reservation(&sku, 1, HOLD_TTL_MS)
    };
    worker.submit(kind).await;
}
