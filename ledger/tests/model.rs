//! The ledger against a reference model, command by command.
//!
//! The model is the plainest implementation of the ledger's rules that could
//! work: a `BTreeMap` of levels, `Vec`s of warehouses, holds, orders and
//! checkouts searched linearly, an idempotency map that keeps a copy of each
//! command and actor (no digest), no indexes. A command runs on a copy of
//! the whole model, which replaces the model only if the command succeeds:
//! rejections are all-or-nothing by construction. It covers every command.
//!
//! `proptest-state-machine` drives both with the same random log: the commands
//! of `support` (bad input, retries, id reuse, time jumps), plus follow-ups
//! picked from the model's state (commit or release a pending hold, ship,
//! cancel or return a live order, the next step of a checkout with the right
//! amount, a count to the 10^12 bound, a transfer between stocked levels) and
//! `Expire` exactly at, or 1 ms either side of, a retention boundary. After
//! every command it proves that the ledger and the model agree on the
//! accept/reject decision, the rejection (variant and every field but an
//! `InvalidInput`'s human-readable reason), the outcome (levels, allocations,
//! deadlines, statuses, carts, totals, purge counts), whether it was a replay,
//! and on the whole observable state: the clock, warehouses, every level's five
//! buckets, the journal entry by entry, every hold, every order (lines and
//! timeline), carts, checkout records and the idempotency record of every id
//! used. It also runs `check_invariants()`.
//! A failure shrinks to a minimal diverging log.

mod support;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ledger::carts::Cart;
use ledger::checkouts::{Checkout, CheckoutStatus, RecordedStep};
use ledger::command::{
    AdjustStock, Adjustment, AdvanceOrder, CancelOrder, CartCommand, CheckoutStep, CommitHold, HoldLine, OrderStep,
    RecordCheckoutStep, RegionHold, RegionOrder, RegisterWarehouse, ReleaseHold, Reserve, ReturnLine, ReturnOrder,
    ShipOrder, Split, StartCheckout, TransferStock,
};
use ledger::holds::{Allocation, Hold, HoldStatus};
use ledger::idempotency::payload_digest;
use ledger::ids::{Actor, CommandId, HoldId, OrderId, ShopperId, Sku, WarehouseId};
use ledger::orders::{Order, OrderLine, OrderStatus, StatusChange};
use ledger::quantity::{MAX_MONEY_MINOR, MAX_QUANTITY};
use ledger::rejection::ShortLine;
use ledger::stock::{JournalEntry, Reason, StockLevel, Warehouse};
use ledger::{Applied, Command, CommandResult, Envelope, Ledger, LedgerConfig, Outcome, Rejection};
use proptest::prelude::*;
use proptest::sample::select;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use support::{
    Clock, HOLDS, ORDERS, TimeStep, actor, bad_id, command, fresh_id, ledger_config, prelude, purge_boundary_ms,
    time_step,
};

prop_state_machine! {
    #![proptest_config(support::proptest_config(128))]

    #[test]
    fn the_ledger_behaves_like_the_model(sequential 1..80 => LedgerTest);
}

// ---------------------------------------------------------------------------
// The model.

/// What the model remembers of a command id.
#[derive(Clone, Debug)]
struct Record {
    actor: Actor,
    command: Command,
    result: CommandResult,
    at_ms: u64,
}

#[derive(Clone, Debug)]
struct Model {
    config: LedgerConfig,
    clock_ms: u64,
    warehouses: Vec<Warehouse>,
    levels: BTreeMap<(Sku, WarehouseId), StockLevel>,
    journal: Vec<JournalEntry>,
    holds: Vec<Hold>,
    orders: Vec<Order>,
    carts: BTreeMap<ShopperId, BTreeMap<Sku, u64>>,
    checkouts: Vec<Checkout>,
    records: BTreeMap<CommandId, Record>,
}

type Checked<T = ()> = Result<T, Rejection>;

/// An `InvalidInput` rejection; only the field is compared.
fn invalid(field: impl Into<String>) -> Rejection {
    Rejection::InvalidInput { field: field.into(), reason: String::new() }
}

fn check_id(field: &str, id: &str) -> Checked {
    if id.is_empty() || id.len() > 255 || id.chars().any(char::is_control) { Err(invalid(field)) } else { Ok(()) }
}

fn check_text(field: &str, text: &str) -> Checked {
    if text.len() > 1024 { Err(invalid(field)) } else { Ok(()) }
}

fn check_positive(field: &str, qty: u64) -> Checked {
    if qty == 0 || qty > MAX_QUANTITY { Err(invalid(field)) } else { Ok(()) }
}

fn check_count(field: &str, qty: u64) -> Checked {
    if qty > MAX_QUANTITY { Err(invalid(field)) } else { Ok(()) }
}

fn available(level: &StockLevel) -> i128 {
    i128::from(level.on_hand)
        - i128::from(level.damaged)
        - i128::from(level.safety_stock)
        - i128::from(level.held)
        - i128::from(level.allocated)
}

fn to_u64(value: i128) -> u64 {
    u64::try_from(value).expect("model: a quantity out of range")
}

fn to_i64(value: i128) -> i64 {
    i64::try_from(value).expect("model: a delta out of range")
}

fn hold_status_name(status: &HoldStatus) -> &'static str {
    match status {
        HoldStatus::Pending => "pending",
        HoldStatus::Committed { .. } => "committed",
        HoldStatus::Released => "released",
        HoldStatus::Expired => "expired",
    }
}

fn order_status_name(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Confirmed => "confirmed",
        OrderStatus::Picking => "picking",
        OrderStatus::PartiallyShipped => "partially_shipped",
        OrderStatus::Shipped => "shipped",
        OrderStatus::Delivered => "delivered",
        OrderStatus::Cancelled => "cancelled",
        OrderStatus::PartiallyReturned => "partially_returned",
        OrderStatus::Returned => "returned",
    }
}

fn checkout_status_name(status: CheckoutStatus) -> &'static str {
    match status {
        CheckoutStatus::Started => "started",
        CheckoutStatus::HoldsPlaced => "holds_placed",
        CheckoutStatus::PaymentAuthorized => "payment_authorized",
        CheckoutStatus::Completed => "completed",
        CheckoutStatus::Failed => "failed",
    }
}

fn step_name(step: &CheckoutStep) -> &'static str {
    match step {
        CheckoutStep::HoldsPlaced { .. } => "holds_placed",
        CheckoutStep::PaymentAuthorized { .. } => "payment_authorized",
        CheckoutStep::PaymentDeclined { .. } => "payment_declined",
        CheckoutStep::Completed { .. } => "completed",
        CheckoutStep::Failed { .. } => "failed",
        CheckoutStep::PaymentVoided => "payment_voided",
    }
}

fn order_transition(order: &Order, to: &str) -> Rejection {
    Rejection::InvalidTransition {
        entity: "order".to_owned(),
        id: order.id.to_string(),
        from: order_status_name(order.status).to_owned(),
        to: to.to_owned(),
    }
}

impl Model {
    fn new(config: LedgerConfig) -> Self {
        Model {
            config,
            clock_ms: 0,
            warehouses: Vec::new(),
            levels: BTreeMap::new(),
            journal: Vec::new(),
            holds: Vec::new(),
            orders: Vec::new(),
            carts: BTreeMap::new(),
            checkouts: Vec::new(),
            records: BTreeMap::new(),
        }
    }

    fn apply(&mut self, envelope: &Envelope) -> Applied {
        self.clock_ms = self.clock_ms.max(envelope.now_ms);
        let now = self.clock_ms;
        let holds_expired = self.expire_holds(now);
        if envelope.command == Command::Expire {
            let cutoff = now.saturating_sub(self.config.retention_ms);
            let records_before = self.records.len();
            self.records.retain(|_, record| record.at_ms >= cutoff);
            let holds_before = self.holds.len();
            self.holds.retain(|hold| match hold.ended_at_ms {
                None => true,
                Some(ended_at_ms) => ended_at_ms >= cutoff,
            });
            let outcome = Outcome::Expired {
                holds_expired,
                records_purged: (records_before - self.records.len()) as u64,
                holds_purged: (holds_before - self.holds.len()) as u64,
            };
            return Applied { result: Ok(outcome), replayed: false };
        }
        if let Err(rejection) =
            check_id("id", envelope.id.as_str()).and_then(|()| check_id("actor", envelope.actor.as_str()))
        {
            return Applied { result: Err(rejection), replayed: false };
        }
        if let Some(record) = self.records.get(&envelope.id) {
            if record.actor == envelope.actor && record.command == envelope.command {
                return Applied { result: record.result.clone(), replayed: true };
            }
            let conflict = Rejection::IdempotencyConflict { command_id: envelope.id.clone() };
            return Applied { result: Err(conflict), replayed: false };
        }
        let mut next = self.clone();
        let result = next.execute(envelope, now);
        if result.is_ok() {
            *self = next;
        }
        let record = Record {
            actor: envelope.actor.clone(),
            command: envelope.command.clone(),
            result: result.clone(),
            at_ms: now,
        };
        self.records.insert(envelope.id.clone(), record);
        Applied { result, replayed: false }
    }

    fn expire_holds(&mut self, now: u64) -> u64 {
        let mut expired = 0;
        for i in 0..self.holds.len() {
            if self.holds[i].status == HoldStatus::Pending && self.holds[i].expires_at_ms <= now {
                self.holds[i].status = HoldStatus::Expired;
                self.holds[i].ended_at_ms = Some(now);
                for allocation in self.holds[i].allocations.clone() {
                    self.level_mut(&allocation.sku, &allocation.warehouse).held -= allocation.qty;
                }
                expired += 1;
            }
        }
        expired
    }

    fn execute(&mut self, envelope: &Envelope, now: u64) -> CommandResult {
        match &envelope.command {
            Command::RegisterWarehouse(cmd) => self.register(cmd),
            Command::AdjustStock(cmd) => self.adjust(cmd, envelope),
            Command::TransferStock(cmd) => self.transfer(cmd, envelope),
            Command::Reserve(cmd) => self.reserve(cmd, now),
            Command::CommitHold(cmd) => self.commit(cmd, envelope, now),
            Command::ReleaseHold(cmd) => self.release(cmd, now),
            Command::AdvanceOrder(cmd) => self.advance(cmd, envelope, now),
            Command::ShipOrder(cmd) => self.ship(cmd, envelope, now),
            Command::CancelOrder(cmd) => self.cancel(cmd, envelope, now),
            Command::ReturnOrder(cmd) => self.return_order(cmd, envelope, now),
            Command::Cart(cmd) => self.cart(cmd),
            Command::StartCheckout(cmd) => self.start_checkout(cmd, now),
            Command::RecordCheckoutStep(cmd) => self.checkout_step(cmd, now),
            Command::Expire => unreachable!("Expire is handled in apply"),
        }
    }

    fn level(&self, sku: &Sku, warehouse: &WarehouseId) -> StockLevel {
        self.levels.get(&(sku.clone(), warehouse.clone())).copied().unwrap_or_default()
    }

    fn level_mut(&mut self, sku: &Sku, warehouse: &WarehouseId) -> &mut StockLevel {
        self.levels.get_mut(&(sku.clone(), warehouse.clone())).expect("model: a claimed level exists")
    }

    fn require_warehouse(&self, warehouse: &WarehouseId) -> Checked {
        if self.warehouses.iter().any(|w| &w.id == warehouse) {
            Ok(())
        } else {
            Err(Rejection::UnknownWarehouse { warehouse: warehouse.clone() })
        }
    }

    /// Changes a level's journaled buckets and journals it (at the model's
    /// time), if every bucket stays in range and available stays non-negative.
    fn post(
        &mut self,
        envelope: &Envelope,
        sku: &Sku,
        warehouse: &WarehouseId,
        reason: Reason,
        deltas: [i128; 3],
        reference: &str,
    ) -> Checked<StockLevel> {
        let old = self.level(sku, warehouse);
        let on_hand = i128::from(old.on_hand) + deltas[0];
        let damaged = i128::from(old.damaged) + deltas[1];
        let safety_stock = i128::from(old.safety_stock) + deltas[2];
        let available_before = available(&old);
        let available_after = on_hand - damaged - safety_stock - i128::from(old.held) - i128::from(old.allocated);
        if available_after < 0 {
            let short = ShortLine {
                sku: sku.clone(),
                warehouse: Some(warehouse.clone()),
                requested: to_u64(available_before - available_after),
                available: to_u64(available_before),
            };
            return Err(Rejection::InsufficientStock { lines: vec![short] });
        }
        for (field, value) in [("on_hand", on_hand), ("damaged", damaged), ("safety_stock", safety_stock)] {
            if value < 0 || value > i128::from(MAX_QUANTITY) {
                return Err(Rejection::QuantityOverflow {
                    field: field.to_owned(),
                    sku: sku.clone(),
                    warehouse: warehouse.clone(),
                });
            }
        }
        let new = StockLevel {
            on_hand: to_u64(on_hand),
            damaged: to_u64(damaged),
            safety_stock: to_u64(safety_stock),
            held: old.held,
            allocated: old.allocated,
        };
        self.levels.insert((sku.clone(), warehouse.clone()), new);
        self.journal.push(JournalEntry {
            seq: self.journal.len() as u64 + 1,
            command_id: envelope.id.clone(),
            warehouse: warehouse.clone(),
            sku: sku.clone(),
            reason,
            on_hand_delta: to_i64(deltas[0]),
            damaged_delta: to_i64(deltas[1]),
            safety_stock_delta: to_i64(deltas[2]),
            actor: envelope.actor.clone(),
            reference: reference.to_owned(),
            at_ms: self.clock_ms,
        });
        Ok(new)
    }

    fn register(&mut self, cmd: &RegisterWarehouse) -> CommandResult {
        check_id("warehouse", cmd.warehouse.as_str())?;
        check_text("name", &cmd.name)?;
        check_text("location", &cmd.location)?;
        if cmd.region != self.config.region {
            return Err(Rejection::WrongRegion { expected: self.config.region.clone(), got: cmd.region.clone() });
        }
        if self.require_warehouse(&cmd.warehouse).is_ok() {
            return Err(Rejection::WarehouseExists { warehouse: cmd.warehouse.clone() });
        }
        self.warehouses.push(Warehouse {
            id: cmd.warehouse.clone(),
            name: cmd.name.clone(),
            location: cmd.location.clone(),
            priority: cmd.priority,
        });
        Ok(Outcome::WarehouseRegistered)
    }

    fn adjust(&mut self, cmd: &AdjustStock, envelope: &Envelope) -> CommandResult {
        check_id("sku", cmd.sku.as_str())?;
        check_text("reference", &cmd.reference)?;
        self.require_warehouse(&cmd.warehouse)?;
        let level = self.level(&cmd.sku, &cmd.warehouse);
        if let Some(expected) = cmd.expected_on_hand {
            check_count("expected_on_hand", expected)?;
            if expected != level.on_hand {
                return Err(Rejection::QuantityMismatch {
                    sku: cmd.sku.clone(),
                    warehouse: cmd.warehouse.clone(),
                    expected,
                    actual: level.on_hand,
                });
            }
        }
        let field = "adjustment.qty";
        let (reason, deltas) = match cmd.adjustment {
            Adjustment::Received { qty } => {
                check_positive(field, qty)?;
                (Reason::Received, [i128::from(qty), 0, 0])
            }
            Adjustment::CycleCount { counted } => {
                check_count("adjustment.counted", counted)?;
                (Reason::CycleCount, [i128::from(counted) - i128::from(level.on_hand), 0, 0])
            }
            Adjustment::Damaged { qty } => {
                check_positive(field, qty)?;
                (Reason::Damaged, [0, i128::from(qty), 0])
            }
            Adjustment::DisposeDamaged { qty } => {
                check_positive(field, qty)?;
                if qty > level.damaged {
                    return Err(invalid(field));
                }
                (Reason::DisposeDamaged, [-i128::from(qty), -i128::from(qty), 0])
            }
            Adjustment::Shrink { qty } => {
                check_positive(field, qty)?;
                (Reason::Shrink, [-i128::from(qty), 0, 0])
            }
            Adjustment::Returned { qty, damaged } => {
                check_positive(field, qty)?;
                (Reason::Returned, [i128::from(qty), if damaged { i128::from(qty) } else { 0 }, 0])
            }
            Adjustment::Correction { delta } => {
                if delta == 0 || i128::from(delta).abs() > i128::from(MAX_QUANTITY) {
                    return Err(invalid("adjustment.delta"));
                }
                (Reason::Correction, [i128::from(delta), 0, 0])
            }
            Adjustment::SetSafetyStock { qty } => {
                check_count(field, qty)?;
                (Reason::SafetyStock, [0, 0, i128::from(qty) - i128::from(level.safety_stock)])
            }
        };
        let level = self.post(envelope, &cmd.sku, &cmd.warehouse, reason, deltas, &cmd.reference)?;
        Ok(Outcome::StockAdjusted { level, journal_seq: self.journal.len() as u64 })
    }

    fn transfer(&mut self, cmd: &TransferStock, envelope: &Envelope) -> CommandResult {
        check_id("sku", cmd.sku.as_str())?;
        check_positive("qty", cmd.qty)?;
        check_text("reference", &cmd.reference)?;
        self.require_warehouse(&cmd.from)?;
        self.require_warehouse(&cmd.to)?;
        if cmd.from == cmd.to {
            return Err(invalid("to"));
        }
        let qty = i128::from(cmd.qty);
        let from = self.post(envelope, &cmd.sku, &cmd.from, Reason::TransferOut, [-qty, 0, 0], &cmd.reference)?;
        let to = self.post(envelope, &cmd.sku, &cmd.to, Reason::TransferIn, [qty, 0, 0], &cmd.reference)?;
        Ok(Outcome::StockTransferred { from, to })
    }

    fn reserve(&mut self, cmd: &Reserve, now: u64) -> CommandResult {
        check_id("hold_id", cmd.hold_id.as_str())?;
        if let Some(owner) = &cmd.owner {
            check_id("owner", owner.as_str())?;
        }
        if cmd.lines.is_empty() || cmd.lines.len() > self.config.max_lines_per_command as usize {
            return Err(invalid("lines"));
        }
        if cmd.ttl_ms == 0 || cmd.ttl_ms > self.config.max_hold_ttl_ms {
            return Err(invalid("ttl_ms"));
        }
        // A deadline must be a real instant after now.
        let Some(expires_at_ms) = now.checked_add(cmd.ttl_ms) else {
            return Err(invalid("ttl_ms"));
        };
        for (i, warehouse) in cmd.preferred_warehouses.iter().enumerate() {
            if self.require_warehouse(warehouse).is_err() {
                return Err(invalid(format!("preferred_warehouses[{i}]")));
            }
        }
        let mut demand: Vec<(Sku, u64)> = Vec::new();
        for (i, line) in cmd.lines.iter().enumerate() {
            check_id(&format!("lines[{i}].sku"), line.sku.as_str())?;
            check_positive(&format!("lines[{i}].qty"), line.qty)?;
            match demand.iter_mut().find(|(sku, _)| sku == &line.sku) {
                Some((_, total)) => *total += line.qty,
                None => demand.push((line.sku.clone(), line.qty)),
            }
            if demand.iter().any(|(_, total)| *total > MAX_QUANTITY) {
                return Err(invalid(format!("lines[{i}].qty")));
            }
        }
        demand.sort();
        if self.holds.iter().any(|hold| hold.id == cmd.hold_id) {
            return Err(Rejection::HoldExists { hold_id: cmd.hold_id.clone() });
        }
        let mut order: Vec<WarehouseId> = Vec::new();
        for warehouse in &cmd.preferred_warehouses {
            if !order.contains(warehouse) {
                order.push(warehouse.clone());
            }
        }
        let mut rest: Vec<&Warehouse> = self.warehouses.iter().filter(|w| !order.contains(&w.id)).collect();
        rest.sort_by(|a, b| (a.priority, &a.id).cmp(&(b.priority, &b.id)));
        order.extend(rest.into_iter().map(|w| w.id.clone()));
        let allocations = match cmd.split {
            Split::Allowed => self.allocate_split(&demand, &order)?,
            Split::SingleWarehouse => self.allocate_single(&demand, &order)?,
        };
        for allocation in &allocations {
            self.level_mut(&allocation.sku, &allocation.warehouse).held += allocation.qty;
        }
        self.holds.push(Hold {
            id: cmd.hold_id.clone(),
            owner: cmd.owner.clone(),
            allocations: allocations.clone(),
            created_at_ms: now,
            expires_at_ms,
            status: HoldStatus::Pending,
            ended_at_ms: None,
        });
        Ok(Outcome::Reserved { allocations, expires_at_ms })
    }

    fn available_at(&self, sku: &Sku, warehouse: &WarehouseId) -> u64 {
        to_u64(available(&self.level(sku, warehouse)))
    }

    /// Each SKU's demand from the warehouses in `order`, as many as it takes.
    fn allocate_split(&self, demand: &[(Sku, u64)], order: &[WarehouseId]) -> Checked<Vec<Allocation>> {
        let mut allocations = Vec::new();
        let mut short = Vec::new();
        for (sku, wanted) in demand {
            let mut taken = Vec::new();
            let mut remaining = *wanted;
            for warehouse in order {
                let take = self.available_at(sku, warehouse).min(remaining);
                if take > 0 {
                    taken.push(Allocation { sku: sku.clone(), warehouse: warehouse.clone(), qty: take });
                    remaining -= take;
                }
            }
            if remaining == 0 {
                allocations.extend(taken);
            } else {
                let available = wanted - remaining;
                short.push(ShortLine { sku: sku.clone(), warehouse: None, requested: *wanted, available });
            }
        }
        if short.is_empty() { Ok(allocations) } else { Err(Rejection::InsufficientStock { lines: short }) }
    }

    /// Every line from the first warehouse in `order` that has it all; else
    /// the shortfall at the one that had the most (the first such).
    fn allocate_single(&self, demand: &[(Sku, u64)], order: &[WarehouseId]) -> Checked<Vec<Allocation>> {
        let mut closest: Option<(WarehouseId, u64)> = None;
        for warehouse in order {
            let mut covered = 0;
            let mut wanted_total = 0;
            for (sku, wanted) in demand {
                covered += self.available_at(sku, warehouse).min(*wanted);
                wanted_total += wanted;
            }
            if covered == wanted_total {
                let fill =
                    |(sku, qty): &(Sku, u64)| Allocation { sku: sku.clone(), warehouse: warehouse.clone(), qty: *qty };
                return Ok(demand.iter().map(fill).collect());
            }
            let closer = match &closest {
                None => true,
                Some((_, best)) => covered > *best,
            };
            if closer {
                closest = Some((warehouse.clone(), covered));
            }
        }
        let mut short = Vec::new();
        for (sku, wanted) in demand {
            let available = match &closest {
                None => 0,
                Some((warehouse, _)) => self.available_at(sku, warehouse),
            };
            if available < *wanted {
                let warehouse = closest.as_ref().map(|(warehouse, _)| warehouse.clone());
                short.push(ShortLine { sku: sku.clone(), warehouse, requested: *wanted, available });
            }
        }
        Err(Rejection::InsufficientStock { lines: short })
    }

    /// The position of a pending hold.
    fn pending_hold(&self, hold_id: &HoldId) -> Checked<usize> {
        check_id("hold_id", hold_id.as_str())?;
        let Some(i) = self.holds.iter().position(|hold| &hold.id == hold_id) else {
            return Err(Rejection::UnknownHold { hold_id: hold_id.clone() });
        };
        if self.holds[i].status != HoldStatus::Pending {
            let status = hold_status_name(&self.holds[i].status).to_owned();
            return Err(Rejection::HoldNotPending { hold_id: hold_id.clone(), status });
        }
        Ok(i)
    }

    fn commit(&mut self, cmd: &CommitHold, envelope: &Envelope, now: u64) -> CommandResult {
        check_id("order_id", cmd.order_id.as_str())?;
        let i = self.pending_hold(&cmd.hold_id)?;
        if self.orders.iter().any(|order| order.id == cmd.order_id) {
            return Err(Rejection::OrderExists { order_id: cmd.order_id.clone() });
        }
        self.holds[i].status = HoldStatus::Committed { order_id: cmd.order_id.clone() };
        self.holds[i].ended_at_ms = Some(now);
        let hold = self.holds[i].clone();
        let mut lines = Vec::new();
        for allocation in &hold.allocations {
            let level = self.level_mut(&allocation.sku, &allocation.warehouse);
            level.held -= allocation.qty;
            level.allocated += allocation.qty;
            lines.push(OrderLine {
                sku: allocation.sku.clone(),
                warehouse: allocation.warehouse.clone(),
                qty: allocation.qty,
                shipped: false,
                returned: 0,
            });
        }
        self.orders.push(Order {
            id: cmd.order_id.clone(),
            hold_id: hold.id,
            owner: hold.owner,
            lines,
            status: OrderStatus::Confirmed,
            timeline: vec![StatusChange {
                status: OrderStatus::Confirmed,
                at_ms: now,
                actor: envelope.actor.clone(),
                note: String::new(),
            }],
        });
        Ok(Outcome::HoldCommitted { order_id: cmd.order_id.clone() })
    }

    fn release(&mut self, cmd: &ReleaseHold, now: u64) -> CommandResult {
        let i = self.pending_hold(&cmd.hold_id)?;
        self.holds[i].status = HoldStatus::Released;
        self.holds[i].ended_at_ms = Some(now);
        for allocation in self.holds[i].allocations.clone() {
            self.level_mut(&allocation.sku, &allocation.warehouse).held -= allocation.qty;
        }
        Ok(Outcome::HoldReleased)
    }

    fn find_order(&self, order_id: &OrderId) -> Checked<usize> {
        self.orders
            .iter()
            .position(|order| &order.id == order_id)
            .ok_or_else(|| Rejection::UnknownOrder { order_id: order_id.clone() })
    }

    fn enter(&mut self, i: usize, status: OrderStatus, envelope: &Envelope, now: u64, note: String) -> CommandResult {
        self.orders[i].status = status;
        self.orders[i].timeline.push(StatusChange { status, at_ms: now, actor: envelope.actor.clone(), note });
        Ok(Outcome::OrderUpdated { status })
    }

    fn advance(&mut self, cmd: &AdvanceOrder, envelope: &Envelope, now: u64) -> CommandResult {
        check_id("order_id", cmd.order_id.as_str())?;
        let i = self.find_order(&cmd.order_id)?;
        let (from, to) = match cmd.step {
            OrderStep::Picking => (OrderStatus::Confirmed, OrderStatus::Picking),
            OrderStep::Delivered => (OrderStatus::Shipped, OrderStatus::Delivered),
        };
        if self.orders[i].status != from {
            return Err(order_transition(&self.orders[i], order_status_name(to)));
        }
        self.enter(i, to, envelope, now, String::new())
    }

    fn ship(&mut self, cmd: &ShipOrder, envelope: &Envelope, now: u64) -> CommandResult {
        self.require_warehouse(&cmd.warehouse)?;
        let i = self.find_order(&cmd.order_id)?;
        let status = self.orders[i].status;
        if !matches!(status, OrderStatus::Confirmed | OrderStatus::Picking | OrderStatus::PartiallyShipped) {
            return Err(order_transition(&self.orders[i], "shipped"));
        }
        let mut shipped_any = false;
        for j in 0..self.orders[i].lines.len() {
            let line = self.orders[i].lines[j].clone();
            if line.shipped || line.warehouse != cmd.warehouse {
                continue;
            }
            self.level_mut(&line.sku, &line.warehouse).allocated -= line.qty;
            let reference = cmd.order_id.to_string();
            let deltas = [-i128::from(line.qty), 0, 0];
            self.post(envelope, &line.sku, &line.warehouse, Reason::Shipped, deltas, &reference)?;
            self.orders[i].lines[j].shipped = true;
            shipped_any = true;
        }
        if !shipped_any {
            return Err(Rejection::NothingToShip { order_id: cmd.order_id.clone(), warehouse: cmd.warehouse.clone() });
        }
        let all_shipped = self.orders[i].lines.iter().all(|line| line.shipped);
        let to = if all_shipped { OrderStatus::Shipped } else { OrderStatus::PartiallyShipped };
        self.enter(i, to, envelope, now, cmd.warehouse.to_string())
    }

    fn cancel(&mut self, cmd: &CancelOrder, envelope: &Envelope, now: u64) -> CommandResult {
        check_text("reason", &cmd.reason)?;
        let i = self.find_order(&cmd.order_id)?;
        if !matches!(self.orders[i].status, OrderStatus::Confirmed | OrderStatus::Picking) {
            return Err(order_transition(&self.orders[i], "cancelled"));
        }
        for line in self.orders[i].lines.clone() {
            self.level_mut(&line.sku, &line.warehouse).allocated -= line.qty;
        }
        self.enter(i, OrderStatus::Cancelled, envelope, now, cmd.reason.clone())
    }

    fn return_order(&mut self, cmd: &ReturnOrder, envelope: &Envelope, now: u64) -> CommandResult {
        if cmd.lines.is_empty() || cmd.lines.len() > self.config.max_lines_per_command as usize {
            return Err(invalid("lines"));
        }
        let i = self.find_order(&cmd.order_id)?;
        let status = self.orders[i].status;
        if !matches!(status, OrderStatus::Shipped | OrderStatus::Delivered | OrderStatus::PartiallyReturned) {
            return Err(order_transition(&self.orders[i], "returned"));
        }
        for (n, ret) in cmd.lines.iter().enumerate() {
            check_positive(&format!("lines[{n}].qty"), ret.qty)?;
            let found = self.orders[i].lines.iter().position(|l| l.sku == ret.sku && l.warehouse == ret.warehouse);
            let Some(j) = found else {
                return Err(invalid(format!("lines[{n}].sku")));
            };
            let line = &mut self.orders[i].lines[j];
            let returnable = line.qty - line.returned;
            if ret.qty > returnable {
                return Err(Rejection::ReturnExceedsShipped {
                    sku: ret.sku.clone(),
                    warehouse: ret.warehouse.clone(),
                    requested: ret.qty,
                    returnable,
                });
            }
            line.returned += ret.qty;
            let qty = i128::from(ret.qty);
            let deltas = [qty, if ret.damaged { qty } else { 0 }, 0];
            let reference = cmd.order_id.to_string();
            self.post(envelope, &ret.sku, &ret.warehouse, Reason::Returned, deltas, &reference)?;
        }
        let all_back = self.orders[i].lines.iter().all(|line| line.returned == line.qty);
        let to = if all_back { OrderStatus::Returned } else { OrderStatus::PartiallyReturned };
        self.enter(i, to, envelope, now, String::new())
    }

    fn cart(&mut self, cmd: &CartCommand) -> CommandResult {
        let max_qty = self.config.max_cart_line_qty;
        let (shopper, lines) = match cmd {
            CartCommand::Add { shopper, sku, qty } => {
                check_positive("qty", *qty)?;
                check_id("shopper", shopper.as_str())?;
                check_id("sku", sku.as_str())?;
                let mut lines = self.carts.get(shopper).cloned().unwrap_or_default();
                let new_qty = lines.get(sku).copied().unwrap_or(0).saturating_add(*qty);
                if new_qty > max_qty {
                    return Err(invalid("qty"));
                }
                lines.insert(sku.clone(), new_qty);
                (shopper, lines)
            }
            CartCommand::Set { shopper, sku, qty } => {
                check_count("qty", *qty)?;
                if *qty > max_qty {
                    return Err(invalid("qty"));
                }
                check_id("shopper", shopper.as_str())?;
                check_id("sku", sku.as_str())?;
                let mut lines = self.carts.get(shopper).cloned().unwrap_or_default();
                if *qty == 0 {
                    lines.remove(sku);
                } else {
                    lines.insert(sku.clone(), *qty);
                }
                (shopper, lines)
            }
            CartCommand::Remove { shopper, sku } => {
                check_id("shopper", shopper.as_str())?;
                check_id("sku", sku.as_str())?;
                let mut lines = self.carts.get(shopper).cloned().unwrap_or_default();
                lines.remove(sku);
                (shopper, lines)
            }
            CartCommand::Clear { shopper } => {
                check_id("shopper", shopper.as_str())?;
                (shopper, BTreeMap::new())
            }
            CartCommand::Merge { guest, shopper } => {
                check_id("guest", guest.as_str())?;
                check_id("shopper", shopper.as_str())?;
                if guest == shopper {
                    return Err(invalid("guest"));
                }
                let mut lines = self.carts.get(shopper).cloned().unwrap_or_default();
                for (sku, qty) in self.carts.get(guest).cloned().unwrap_or_default() {
                    let merged = lines.get(&sku).copied().unwrap_or(0).saturating_add(qty).min(max_qty);
                    lines.insert(sku, merged);
                }
                self.carts.remove(guest);
                (shopper, lines)
            }
        };
        let max_lines = self.config.max_cart_lines;
        if lines.len() > max_lines as usize {
            return Err(Rejection::CartFull { shopper: shopper.clone(), max_lines });
        }
        if lines.is_empty() {
            self.carts.remove(shopper);
        } else {
            self.carts.insert(shopper.clone(), lines.clone());
        }
        Ok(Outcome::CartUpdated { cart: Cart { lines } })
    }

    fn start_checkout(&mut self, cmd: &StartCheckout, now: u64) -> CommandResult {
        check_id("checkout_id", cmd.checkout_id.as_str())?;
        check_id("shopper", cmd.shopper.as_str())?;
        if cmd.currency.len() != 3 || !cmd.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(invalid("currency"));
        }
        if cmd.lines.is_empty() || cmd.lines.len() > self.config.max_lines_per_command as usize {
            return Err(invalid("lines"));
        }
        let mut total: u128 = 0;
        for (i, line) in cmd.lines.iter().enumerate() {
            check_id(&format!("lines[{i}].sku"), line.sku.as_str())?;
            check_positive(&format!("lines[{i}].qty"), line.qty)?;
            if line.unit_price_minor > MAX_MONEY_MINOR {
                return Err(invalid(format!("lines[{i}].unit_price_minor")));
            }
            total += u128::from(line.qty) * u128::from(line.unit_price_minor);
        }
        if total > u128::from(MAX_MONEY_MINOR) {
            return Err(invalid("lines"));
        }
        let total_minor = u64::try_from(total).expect("at most 10^15");
        if self.checkouts.iter().any(|checkout| checkout.id == cmd.checkout_id) {
            return Err(Rejection::CheckoutExists { checkout_id: cmd.checkout_id.clone() });
        }
        self.checkouts.push(Checkout {
            id: cmd.checkout_id.clone(),
            shopper: cmd.shopper.clone(),
            currency: cmd.currency.clone(),
            lines: cmd.lines.clone(),
            total_minor,
            status: CheckoutStatus::Started,
            holds: Vec::new(),
            payment_ref: None,
            payment_voided: false,
            orders: Vec::new(),
            failure: None,
            steps: Vec::new(),
            created_at_ms: now,
        });
        Ok(Outcome::CheckoutRecorded { status: CheckoutStatus::Started, total_minor })
    }

    fn checkout_step(&mut self, cmd: &RecordCheckoutStep, now: u64) -> CommandResult {
        check_id("checkout_id", cmd.checkout_id.as_str())?;
        match &cmd.step {
            CheckoutStep::HoldsPlaced { holds } => {
                if holds.is_empty() {
                    return Err(invalid("step.holds"));
                }
                for (i, hold) in holds.iter().enumerate() {
                    check_id(&format!("step.holds[{i}].region"), &hold.region)?;
                    check_id(&format!("step.holds[{i}].hold_id"), hold.hold_id.as_str())?;
                }
            }
            CheckoutStep::PaymentAuthorized { payment_ref, .. } => check_id("step.payment_ref", payment_ref)?,
            CheckoutStep::PaymentDeclined { reason } | CheckoutStep::Failed { reason } => {
                check_text("step.reason", reason)?;
            }
            CheckoutStep::Completed { orders } => {
                if orders.is_empty() {
                    return Err(invalid("step.orders"));
                }
                for (i, order) in orders.iter().enumerate() {
                    check_id(&format!("step.orders[{i}].region"), &order.region)?;
                    check_id(&format!("step.orders[{i}].order_id"), order.order_id.as_str())?;
                }
            }
            CheckoutStep::PaymentVoided => {}
        }
        let Some(checkout) = self.checkouts.iter_mut().find(|checkout| checkout.id == cmd.checkout_id) else {
            return Err(Rejection::UnknownCheckout { checkout_id: cmd.checkout_id.clone() });
        };
        use CheckoutStatus as S;
        let to = match (&cmd.step, checkout.status) {
            (CheckoutStep::HoldsPlaced { .. }, S::Started) => Some(S::HoldsPlaced),
            (CheckoutStep::PaymentAuthorized { amount_minor, .. }, S::HoldsPlaced) => {
                if *amount_minor != checkout.total_minor {
                    return Err(invalid("step.amount_minor"));
                }
                Some(S::PaymentAuthorized)
            }
            (CheckoutStep::PaymentDeclined { .. }, S::HoldsPlaced) => Some(S::Failed),
            (CheckoutStep::Completed { .. }, S::PaymentAuthorized) => Some(S::Completed),
            (CheckoutStep::Failed { .. }, S::Started | S::HoldsPlaced | S::PaymentAuthorized) => Some(S::Failed),
            (CheckoutStep::PaymentVoided, S::Failed) if checkout.payment_ref.is_some() && !checkout.payment_voided => {
                Some(S::Failed)
            }
            _ => None,
        };
        let Some(to) = to else {
            return Err(Rejection::InvalidTransition {
                entity: "checkout".to_owned(),
                id: cmd.checkout_id.to_string(),
                from: checkout_status_name(checkout.status).to_owned(),
                to: step_name(&cmd.step).to_owned(),
            });
        };
        match &cmd.step {
            CheckoutStep::HoldsPlaced { holds } => checkout.holds = holds.clone(),
            CheckoutStep::PaymentAuthorized { payment_ref, .. } => checkout.payment_ref = Some(payment_ref.clone()),
            CheckoutStep::PaymentDeclined { reason } | CheckoutStep::Failed { reason } => {
                checkout.failure = Some(reason.clone());
            }
            CheckoutStep::Completed { orders } => checkout.orders = orders.clone(),
            CheckoutStep::PaymentVoided => checkout.payment_voided = true,
        }
        checkout.status = to;
        checkout.steps.push(RecordedStep { step: cmd.step.clone(), at_ms: now });
        Ok(Outcome::CheckoutRecorded { status: to, total_minor: checkout.total_minor })
    }
}

// ---------------------------------------------------------------------------
// The state machine test: the model generates and predicts, the ledger runs.

/// The reference state: the model plus what generation needs.
#[derive(Clone)]
struct Reference {
    model: Model,
    /// Applied to both before the generated transitions.
    prelude: Vec<Envelope>,
    /// Every envelope applied so far, for retries and id reuse.
    history: Vec<Envelope>,
    /// Every command id used: only these can have idempotency records.
    ids_used: BTreeSet<CommandId>,
    /// Fresh ids are `c1`, `c2`, ...
    counter: u64,
    /// The model's answer to the last transition.
    last: Option<Applied>,
}

/// Shown in a failure report: the shrunk transitions follow it.
impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reference").field("config", &self.model.config).field("prelude", &self.prelude).finish()
    }
}

struct LedgerModel;

impl ReferenceStateMachine for LedgerModel {
    type State = Reference;
    type Transition = Envelope;

    fn init_state() -> BoxedStrategy<Reference> {
        (ledger_config(), prelude())
            .prop_map(|(config, prelude)| {
                let mut model = Model::new(config);
                for envelope in &prelude {
                    model.apply(envelope);
                }
                Reference {
                    model,
                    ids_used: prelude.iter().map(|envelope| envelope.id.clone()).collect(),
                    history: prelude.clone(),
                    prelude,
                    counter: 0,
                    last: None,
                }
            })
            .boxed()
    }

    fn transitions(state: &Reference) -> BoxedStrategy<Envelope> {
        let pending = state.model.holds.iter().filter(|hold| hold.status == HoldStatus::Pending);
        let clock = Clock { latest_ms: state.model.clock_ms, deadlines_ms: pending.map(|h| h.expires_at_ms).collect() };
        let stamp = move |time: TimeStep| clock.clone().stamp(time);
        let counter = state.counter;
        let fresh = (command(), actor(), time_step(), prop::option::weighted(0.03, bad_id())).prop_map({
            let stamp = stamp.clone();
            move |(command, actor, time, bad)| Envelope {
                id: fresh_id(bad, &mut { counter }).into(),
                now_ms: stamp(time),
                actor: actor.into(),
                command,
            }
        });
        let history = state.history.clone();
        let resend = (select(history.clone()), prop::option::of(time_step())).prop_map({
            let stamp = stamp.clone();
            move |(earlier, time)| Envelope { now_ms: time.map_or(earlier.now_ms, &stamp), ..earlier }
        });
        let reuse = (select(history), command(), actor(), time_step()).prop_map({
            let stamp = stamp.clone();
            move |(earlier, command, actor, time)| Envelope {
                id: earlier.id,
                now_ms: stamp(time),
                actor: actor.into(),
                command,
            }
        });
        let reissue = (select(state.history.clone()), actor(), time_step()).prop_map({
            let stamp = stamp.clone();
            move |(earlier, actor, time)| Envelope { now_ms: stamp(time), actor: actor.into(), ..earlier }
        });
        // Every instant the model recorded or ended something: `Expire` at
        // their retention boundaries.
        let model = &state.model;
        let recorded = model.records.values().map(|record| record.at_ms);
        let ended = model.holds.iter().filter_map(|hold| hold.ended_at_ms);
        let retention_ms = model.config.retention_ms;
        let clock_ms = model.clock_ms;
        let times: Vec<u64> = recorded.chain(ended).chain([clock_ms]).collect();
        let expire_at_boundary = (select(times), -1i64..=1).prop_map(move |(at_ms, offset_ms)| Envelope {
            id: fresh_id(None, &mut { counter }).into(),
            now_ms: purge_boundary_ms(at_ms, retention_ms, offset_ms).max(clock_ms),
            actor: "ops".into(),
            command: Command::Expire,
        });
        let follow_ups = follow_ups(&state.model);
        if follow_ups.is_empty() {
            return prop_oneof![20 => fresh, 2 => resend, 1 => reuse, 1 => reissue, 1 => expire_at_boundary].boxed();
        }
        let follow_up = (select(follow_ups), 0u64..=500).prop_map(move |(command, step_ms)| Envelope {
            id: fresh_id(None, &mut { counter }).into(),
            now_ms: stamp(TimeStep::Forward(step_ms)),
            actor: "ops".into(),
            command,
        });
        prop_oneof![20 => fresh, 2 => resend, 1 => reuse, 1 => reissue, 1 => expire_at_boundary, 10 => follow_up]
            .boxed()
    }

    fn apply(mut state: Reference, transition: &Envelope) -> Reference {
        state.last = Some(state.model.apply(transition));
        state.history.push(transition.clone());
        state.ids_used.insert(transition.id.clone());
        state.counter += 1;
        state
    }
}

/// Commands that take the model's current holds, orders and checkouts a
/// step further: random commands rarely name a live entity with the right
/// warehouse, quantity or amount.
fn follow_ups(model: &Model) -> Vec<Command> {
    let mut commands = Vec::new();
    let unused_order = ORDERS.iter().find(|id| model.orders.iter().all(|order| order.id.as_str() != **id));
    let unused_hold = HOLDS.iter().find(|id| model.holds.iter().all(|hold| hold.id.as_str() != **id));
    for (sku, warehouse) in model.levels.keys() {
        let stock = available(&model.level(sku, warehouse));
        if let (Some(hold_id), true) = (unused_hold, stock > 0) {
            commands.push(Command::Reserve(Reserve {
                hold_id: (*hold_id).into(),
                lines: vec![HoldLine { sku: sku.clone(), qty: to_u64(stock.min(3)) }],
                preferred_warehouses: vec![warehouse.clone()],
                split: Split::Allowed,
                ttl_ms: 30_000,
                owner: None,
            }));
        }
    }
    for ((sku, warehouse), level) in &model.levels {
        let reference = String::new();
        let counted = MAX_QUANTITY - 2;
        let adjustment = Adjustment::CycleCount { counted };
        let (sku, warehouse) = (sku.clone(), warehouse.clone());
        commands.push(Command::AdjustStock(AdjustStock {
            warehouse: warehouse.clone(),
            sku: sku.clone(),
            adjustment,
            expected_on_hand: None,
            reference: reference.clone(),
        }));
        let qty = to_u64(available(level).clamp(1, 5));
        for to in model.warehouses.iter().filter(|w| w.id != warehouse) {
            let (from, to, sku) = (warehouse.clone(), to.id.clone(), sku.clone());
            commands.push(Command::TransferStock(TransferStock { from, to, sku, qty, reference: reference.clone() }));
        }
    }
    for hold in model.holds.iter().filter(|hold| hold.status == HoldStatus::Pending) {
        let order_id = OrderId::from(*unused_order.unwrap_or(&ORDERS[0]));
        commands.push(Command::CommitHold(CommitHold { hold_id: hold.id.clone(), order_id }));
        commands.push(Command::ReleaseHold(ReleaseHold { hold_id: hold.id.clone() }));
    }
    for order in &model.orders {
        let order_id = order.id.clone();
        for step in [OrderStep::Picking, OrderStep::Delivered] {
            commands.push(Command::AdvanceOrder(AdvanceOrder { order_id: order_id.clone(), step }));
        }
        commands.push(Command::CancelOrder(CancelOrder { order_id: order_id.clone(), reason: String::new() }));
        for line in &order.lines {
            let warehouse = line.warehouse.clone();
            if !line.shipped {
                commands.push(Command::ShipOrder(ShipOrder { order_id: order_id.clone(), warehouse }));
            } else if line.returned < line.qty {
                let (sku, qty) = (line.sku.clone(), (line.qty - line.returned).min(2));
                let lines = vec![ReturnLine { sku, warehouse, qty, damaged: qty == 1 }];
                commands.push(Command::ReturnOrder(ReturnOrder { order_id: order_id.clone(), lines }));
            }
        }
    }
    for checkout in &model.checkouts {
        let hold_id = HoldId::from(HOLDS[0]);
        let order_id = OrderId::from(ORDERS[0]);
        let failed = CheckoutStep::Failed { reason: String::new() };
        let steps = match checkout.status {
            CheckoutStatus::Started => {
                vec![CheckoutStep::HoldsPlaced { holds: vec![RegionHold { region: "eu".to_owned(), hold_id }] }, failed]
            }
            CheckoutStatus::HoldsPlaced => vec![
                CheckoutStep::PaymentAuthorized { payment_ref: "pay-1".to_owned(), amount_minor: checkout.total_minor },
                CheckoutStep::PaymentDeclined { reason: String::new() },
                failed,
            ],
            CheckoutStatus::PaymentAuthorized => {
                vec![
                    CheckoutStep::Completed { orders: vec![RegionOrder { region: "eu".to_owned(), order_id }] },
                    failed,
                ]
            }
            CheckoutStatus::Failed => vec![CheckoutStep::PaymentVoided],
            CheckoutStatus::Completed => Vec::new(),
        };
        for step in steps {
            let checkout_id = checkout.id.clone();
            commands.push(Command::RecordCheckoutStep(RecordCheckoutStep { checkout_id, step }));
        }
    }
    commands
}

struct LedgerTest;

impl StateMachineTest for LedgerTest {
    type SystemUnderTest = Ledger;
    type Reference = LedgerModel;

    fn init_test(reference: &Reference) -> Ledger {
        let mut ledger = Ledger::new(reference.model.config.clone());
        for envelope in &reference.prelude {
            ledger.apply(envelope);
        }
        ledger
    }

    fn apply(mut ledger: Ledger, reference: &Reference, transition: Envelope) -> Ledger {
        let actual = ledger.apply(&transition);
        let expected = reference.last.as_ref().expect("the model applied the transition first");
        assert_eq!(actual.replayed, expected.replayed, "replayed flag of {transition:?}: {actual:?}");
        assert_same_result(&actual.result, &expected.result, &transition);
        ledger
    }

    fn check_invariants(ledger: &Ledger, reference: &Reference) {
        assert_same_state(ledger, reference);
        if let Err(violation) = ledger.check_invariants() {
            panic!("{violation}");
        }
    }
}

/// Equal results, except that an `InvalidInput`'s reason (prose) is not compared.
fn assert_same_result(actual: &CommandResult, expected: &CommandResult, context: &dyn fmt::Debug) {
    match (actual, expected) {
        (Err(Rejection::InvalidInput { field: actual, .. }), Err(Rejection::InvalidInput { field: expected, .. })) => {
            assert_eq!(actual, expected, "the invalid field of {context:?}");
        }
        _ => assert_eq!(actual, expected, "the result of {context:?}"),
    }
}

fn assert_same_state(ledger: &Ledger, reference: &Reference) {
    let model = &reference.model;
    assert_eq!(ledger.clock_ms(), model.clock_ms, "clock");
    let mut warehouses = model.warehouses.clone();
    warehouses.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(ledger.warehouses().cloned().collect::<Vec<_>>(), warehouses, "warehouses");
    let levels: Vec<_> =
        ledger.levels().into_iter().map(|(sku, w, level)| ((sku.clone(), w.clone()), *level)).collect();
    let expected_levels: Vec<_> = model.levels.clone().into_iter().collect();
    assert_eq!(levels, expected_levels, "levels");
    assert_eq!(ledger.journal().iter().cloned().collect::<Vec<_>>(), model.journal, "journal");
    let mut holds = model.holds.clone();
    holds.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(ledger.holds().into_iter().map(Cow::into_owned).collect::<Vec<_>>(), holds, "holds");
    let mut orders = model.orders.clone();
    orders.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(ledger.orders().into_iter().cloned().collect::<Vec<_>>(), orders, "orders");
    let carts: Vec<_> =
        ledger.carts().into_iter().map(|(shopper, cart)| (shopper.clone(), cart.lines.clone())).collect();
    let expected_carts: Vec<_> = model.carts.clone().into_iter().collect();
    assert_eq!(carts, expected_carts, "carts");
    let mut checkouts = model.checkouts.clone();
    checkouts.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(ledger.checkouts().into_iter().cloned().collect::<Vec<_>>(), checkouts, "checkouts");
    let mut scratch = Vec::new();
    for id in &reference.ids_used {
        match (ledger.idempotency_record(id), model.records.get(id)) {
            (None, None) => {}
            (Some(actual), Some(expected)) => {
                assert_same_result(&actual.result, &expected.result, id);
                assert_eq!(actual.at_ms, expected.at_ms, "when {id} was recorded");
                let digest = payload_digest(&expected.actor, &expected.command, &mut scratch);
                assert_eq!(actual.digest, digest, "the digest recorded for {id}");
            }
            (actual, expected) => panic!("idempotency record of {id}: ledger {actual:?}, model {expected:?}"),
        }
    }
}
