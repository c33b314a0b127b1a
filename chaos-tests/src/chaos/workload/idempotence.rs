//! Idempotence: every command is sent three times at once with the
//! same id and payload, and one step in `RESEND_ONE_IN` sends an earlier
//! command again (by then often across a fault). A retry must never apply
//! twice: the copies must all get the same answer, and the journal must
//! hold each command's entries once.

use super::{HOLD_TTL_MS, Worker, remember, take_any};
use crate::chaos::history::{Adjustment, OpKind, Outcome};

/// One step in this many resends a remembered command.
const RESEND_ONE_IN: u64 = 3;

/// Sends the next command (new or remembered), three times at once.
pub async fn step(worker: &mut Worker) {
    let remembered = if worker.rng.one_in(RESEND_ONE_IN) {
        let last = u64::try_from(worker.memory.sent.len()).unwrap_or(0).saturating_sub(1);
        let index = worker.rng.range(0, last);
        usize::try_from(index).ok().and_then(|i| worker.memory.sent.get(i)).cloned()
    } else {
        None
    };
    let fresh = remembered.is_none();
    let kind = remembered.unwrap_or_else(|| new_command(worker));
    let (a, b, c) = tokio::join!(worker.submit(kind.clone()), worker.submit(kind.clone()), worker.submit(kind.clone()));
    if !fresh {
        return;
    }
    let acked = [a, b, c].iter().any(|s| s.op.outcome == Outcome::Ok);
    if let (true, OpKind::Reserve { hold_id, .. }) = (acked, &kind) {
        // Only a new hold is committed or released later, once.
        remember(&mut worker.memory.pending, hold_id.clone());
    }
    remember(&mut worker.memory.sent, kind);
}

/// A fresh command: a receipt, a reserve, or the commit or release of a
/// hold it reserved.
fn new_command(worker: &mut Worker) -> OpKind {
    let catalog = worker.catalog.clone();
    let sku = worker.pick(&catalog.skus).unwrap_or(&catalog.hot_sku).to_owned();
    let warehouse = worker.pick(&catalog.warehouses).unwrap_or(catalog.home()).to_owned();
    let quantity = worker.rng.range(1, 2);
    match worker.rng.range(0, 3) {
        0 => worker.adjustment(Adjustment::Receive, &warehouse, &sku, quantity),
        1 => worker.reservation(&sku, quantity, HOLD_TTL_MS),
        choice => match take_any(&mut worker.rng, &mut worker.memory.pending) {
            Some(hold_id) if choice == 2 => Worker::commit_of(&hold_id),
            Some(hold_id) => Worker::release_of(&hold_id),
            None => worker.reservation(&sku, quantity, HOLD_TTL_MS),
        },
    }
}
