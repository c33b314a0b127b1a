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
    /// - pending holds are not past their deadline; ended holds say when,
    ///   in the order they ended, each id once; committed holds have their
    ///   order;
    /// - idempotency records are in the order applied, each id once;
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
        for hold in state.pending_holds.values() {
            if hold.status != HoldStatus::Pending || hold.ended_at_ms.is_some() {
                return fail(format!(
                    "pending hold {} has status {:?}, ended at {:?}",
                    hold.id, hold.status, hold.ended_at_ms
                ));
            }
            if hold.expires_at_ms <= state.clock_ms {
                return fail(format!("hold {} is pending past its deadline", hold.id));
            }
            for a in &hold.allocations {
                sums.entry((&a.sku, &a.warehouse)).or_default().held += i128::from(a.qty);
            }
        }
        let mut end_times = TimeOrder::up_to(state.clock_ms);
        for (position, hold) in state.ended_holds.iter() {
            if !end_times.admits(hold.ended_at_ms) {
                return fail(format!("ended hold {} ended at {:?}, out of order", hold.id, hold.ended_at_ms));
            }
            match &hold.status {
                HoldStatus::Pending => return fail(format!("ended hold {} is pending", hold.id)),
                HoldStatus::Committed { order_id } => {
                    if state.orders.get(order_id).is_none_or(|o| o.hold_id != hold.id) {
                        return fail(format!("hold {} was committed into missing order {order_id}", hold.id));
                    }
                }
                HoldStatus::Released | HoldStatus::Expired => {}
            }
            if state.pending_holds.contains_key(&hold.id) {
                return fail(format!("hold {} is both pending and ended", hold.id));
            }
            let first =
                self.index.ended_holds.find(&hold.id, |p| p == position || state.ended_holds.get(p).id == hold.id);
            if first != Some(position) {
                return fail(format!("ended hold {} appears twice", hold.id));
            }
        }
        let mut applied_times = TimeOrder::up_to(state.clock_ms);
        for (position, (id, record)) in state.records.iter() {
            if !applied_times.admits(Some(record.at_ms)) {
                return fail(format!("the record of command {id} was applied at {}, out of order", record.at_ms));
            }
            let first = self.index.records.find(&id, |p| p == position || state.records.get(p).0 == id);
            if first != Some(position) {
                return fail(format!("command {id} has two idempotency records"));
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

/// The history's times, read oldest first, must be there and rise with
/// it, up to the ledger's clock.
struct TimeOrder {
    before: u64,
    clock_ms: u64,
}

impl TimeOrder {
    fn up_to(clock_ms: u64) -> Self {
        Self { before: 0, clock_ms }
    }

    /// Whether `time`, the next one, is in order (it becomes the one before).
    fn admits(&mut self, time: Option<u64>) -> bool {
        match time.filter(|time| (self.before..=self.clock_ms).contains(time)) {
            Some(time) => {
                self.before = time;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::command::{AdjustStock, Adjustment, HoldLine, RegisterWarehouse, ReleaseHold, Reserve, Split};
    use crate::holds::{Hold, HoldStatus};
    use crate::ledger::State;
    use crate::{Command, Envelope, Ledger, LedgerConfig};

    /// A ledger with two released holds and their commands' records.
    fn with_history() -> Ledger {
        let mut ledger = Ledger::new(LedgerConfig::new("eu"));
        let mut apply = |id: &str, now_ms: u64, command: Command| {
            let envelope = Envelope { id: id.into(), now_ms, actor: "test".into(), command };
            assert!(ledger.apply(&envelope).result.is_ok(), "{id} applies");
        };
        let warehouse = RegisterWarehouse {
            warehouse: "wh-1".into(),
            region: "eu".into(),
            name: "One".into(),
            location: String::new(),
            priority: 1,
        };
        apply("register", 1, Command::RegisterWarehouse(warehouse));
        let receive = AdjustStock {
            warehouse: "wh-1".into(),
            sku: "apple".into(),
            adjustment: Adjustment::Received { qty: 10 },
            expected_on_hand: None,
            reference: "seed".into(),
        };
        apply("receive", 2, Command::AdjustStock(receive));
        for (n, hold) in ["h-1", "h-2"].into_iter().enumerate() {
            let reserve = Reserve {
                hold_id: hold.into(),
                lines: vec![HoldLine { sku: "apple".into(), qty: 1 }],
                preferred_warehouses: Vec::new(),
                split: Split::Allowed,
                ttl_ms: 60_000,
                owner: None,
            };
            apply(&format!("reserve-{hold}"), 10 + n as u64, Command::Reserve(reserve));
            let release = ReleaseHold { hold_id: hold.into() };
            apply(&format!("release-{hold}"), 20 + n as u64, Command::ReleaseHold(release));
        }
        ledger.check_invariants().expect("a ledger apply built is consistent");
        ledger
    }

    /// The ledger a snapshot holding `state` would restore to.
    fn restored(change: impl FnOnce(&mut State)) -> Ledger {
        let mut state = with_history().state;
        change(&mut state);
        Ledger::from_state(state)
    }

    #[test]
    fn history_out_of_order_or_twice_is_refused() {
        let broken = [
            restored(|state| {
                let holds: Vec<Hold> = state.ended_holds.iter().map(|(_, hold)| hold).collect();
                state.ended_holds = [holds[1].clone(), holds[0].clone()].into_iter().collect();
            }),
            restored(|state| {
                let first = state.ended_holds.iter().next().expect("holds kept").1;
                state.ended_holds.push_back(&first);
            }),
            restored(|state| {
                let first = state.records.iter().next().expect("records kept").1;
                state.records.push_back(&first);
            }),
            restored(|state| {
                let mut records: Vec<_> = state.records.iter().map(|(_, record)| record).collect();
                records.rotate_right(1);
                state.records = records.into_iter().collect();
            }),
        ];
        for ledger in broken {
            let error = ledger.check_invariants().expect_err("the audit finds it");
            assert!(error.0.contains("order") || error.0.contains("twice") || error.0.contains("two"), "{error}");
        }
    }

    #[test]
    fn a_hold_both_pending_and_ended_is_refused() {
        let ledger = restored(|state| {
            let mut pending = state.ended_holds.iter().next().expect("holds kept").1;
            pending.status = HoldStatus::Pending;
            pending.ended_at_ms = None;
            pending.expires_at_ms = state.clock_ms + 1;
            state.pending_holds.insert(pending.id.clone(), std::sync::Arc::new(pending));
        });
        let error = ledger.check_invariants().expect_err("the audit finds it");
        assert!(error.0.contains("both pending and ended"), "{error}");
    }
}
