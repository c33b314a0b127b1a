//! The ledger's invariants, checked in full: after restoring a snapshot, and
//! by the property tests after every command. `apply` keeps them by
//! construction (and rejects any command that would break one); this is the
//! independent audit.

use std::collections::BTreeMap;

use crate::holds::HoldStatus;
use crate::ids::{Sku, WarehouseId};
use crate::ledger::Ledger;
use crate::orders::OrderStatus;
use crate::quantity::MAX_QUANTITY;

/// A broken invariant: the state is not one `apply` can produce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invariant violated: {0}")]
pub struct InvariantViolation(pub String);

#[derive(Default)]
struct Sums {
    on_hand: i128,
    damaged: i128,
    safety_stock: i128,
    held: i128,
    allocated: i128,
}

impl Ledger {
    /// Checks every invariant over the whole state:
    /// - every level has `available >= 0` and every bucket within bounds;
    /// - `on_hand`, `damaged`, `safety_stock` equal the sums of the journal;
    /// - `held` equals the sum of pending holds' allocations, `allocated` the
    ///   sum of live orders' unshipped lines;
    /// - every level's and allocation's warehouse is registered;
    /// - pending holds are not past their deadline; ended holds say when;
    ///   committed holds have their order;
    /// - journal sequence numbers are 1, 2, 3, ...
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let fail = |what: String| Err(InvariantViolation(what));
        let state = &self.state;
        let mut sums: BTreeMap<(&Sku, &WarehouseId), Sums> = BTreeMap::new();
        for (i, entry) in state.journal.iter().enumerate() {
            if entry.seq != i as u64 + 1 {
                return fail(format!("journal entry {i} has seq {}", entry.seq));
            }
            let sum = sums.entry((&entry.sku, &entry.warehouse)).or_default();
            sum.on_hand += i128::from(entry.on_hand_delta);
            sum.damaged += i128::from(entry.damaged_delta);
            sum.safety_stock += i128::from(entry.safety_stock_delta);
        }
        for hold in state.holds.values() {
            match (&hold.status, hold.ended_at_ms) {
                (HoldStatus::Pending, None) => {
                    if hold.expires_at_ms <= state.clock_ms {
                        return fail(format!("hold {} is pending past its deadline", hold.id));
                    }
                    for a in &hold.allocations {
                        sums.entry((&a.sku, &a.warehouse)).or_default().held += i128::from(a.qty);
                    }
                }
                (HoldStatus::Pending, Some(_)) | (_, None) => {
                    return fail(format!(
                        "hold {} has status {:?} and end time {:?}",
                        hold.id, hold.status, hold.ended_at_ms
                    ));
                }
                (HoldStatus::Committed { order_id }, Some(_)) => {
                    if state.orders.get(order_id).is_none_or(|o| o.hold_id != hold.id) {
                        return fail(format!("hold {} was committed into missing order {order_id}", hold.id));
                    }
                }
                (HoldStatus::Released | HoldStatus::Expired, Some(_)) => {}
            }
        }
        for order in state.orders.values() {
            if order.status == OrderStatus::Cancelled {
                continue;
            }
            for line in order.lines.iter().filter(|line| !line.shipped) {
                sums.entry((&line.sku, &line.warehouse)).or_default().allocated += i128::from(line.qty);
            }
        }
        for (sku, warehouse, level) in self.levels() {
            if !state.warehouses.contains_key(warehouse) {
                return fail(format!("level of {sku} at unregistered warehouse {warehouse}"));
            }
            let buckets = [level.on_hand, level.damaged, level.safety_stock, level.held, level.allocated];
            if buckets.iter().any(|&q| q > MAX_QUANTITY) {
                return fail(format!("level of {sku} at {warehouse} exceeds the maximum: {level:?}"));
            }
            let claimed = u128::from(level.damaged)
                + u128::from(level.safety_stock)
                + u128::from(level.held)
                + u128::from(level.allocated);
            if claimed > u128::from(level.on_hand) {
                return fail(format!("available < 0 for {sku} at {warehouse}: {level:?}"));
            }
            let sum = sums.remove(&(sku, warehouse)).unwrap_or_default();
            let expected = [sum.on_hand, sum.damaged, sum.safety_stock, sum.held, sum.allocated];
            let actual = buckets.map(i128::from);
            if expected != actual {
                return fail(format!(
                    "level of {sku} at {warehouse} is {actual:?} (on_hand, damaged, safety, held, allocated) but journal, holds and orders say {expected:?}"
                ));
            }
        }
        if let Some(((sku, warehouse), _)) = sums.into_iter().next() {
            return fail(format!("journal, holds or orders name {sku} at {warehouse}, which has no level"));
        }
        Ok(())
    }
}
