//! Orders: created by committing a hold, then moved along their fulfilment
//! status machine. Shipping takes units off the shelf (on-hand and
//! allocated fall together); cancelling returns the allocation; returning
//! restocks.
//!
//! ```text
//! confirmed ─► picking ─► partially shipped ─► shipped ─► delivered
//!     │            │                              │           │
//!     └─► cancelled ◄┘                            └─► partially returned ─► returned
//! ```

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::command::{AdvanceOrder, CancelOrder, OrderStep, ReturnOrder, ShipOrder};
use crate::ids::{Actor, CommandId, FieldName, HoldId, OrderId, ShopperId, Sku, WarehouseId, validate_id};
use crate::ledger::Ledger;
use crate::outcome::Outcome;
use crate::quantity::{Quantity, validate_positive};
use crate::rejection::Rejection;
use crate::stock::{Deltas, Reason, propose, signed, validate_text};

/// Where an order is in fulfilment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Stock is allocated; nothing has happened at the warehouse yet.
    Confirmed,
    /// A warehouse started picking.
    Picking,
    /// Some warehouses shipped their lines, others not yet.
    PartiallyShipped,
    /// Every line shipped.
    Shipped,
    /// The carrier delivered.
    Delivered,
    /// Cancelled before shipping; the allocation went back to stock.
    Cancelled,
    /// Some shipped units came back.
    PartiallyReturned,
    /// Every shipped unit came back.
    Returned,
}

impl OrderStatus {
    /// A short lowercase name, for messages.
    pub fn name(self) -> &'static str {
        match self {
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
}

/// Units of one SKU an order takes from one warehouse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The SKU.
    pub sku: Sku,
    /// The warehouse it is allocated at and ships from.
    pub warehouse: WarehouseId,
    /// Units.
    pub qty: Quantity,
    /// Whether it left the warehouse.
    pub shipped: bool,
    /// Units returned since.
    pub returned: Quantity,
}

/// One entry of an order's timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// The status entered.
    pub status: OrderStatus,
    /// When (leader time).
    pub at_ms: u64,
    /// Who caused it.
    pub actor: Actor,
    /// A note (cancel reason, shipping warehouse).
    pub note: String,
}

/// A confirmed purchase of allocated stock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Its id.
    pub id: OrderId,
    /// The hold it was committed from.
    pub hold_id: HoldId,
    /// The buyer, if the hold named one.
    pub owner: Option<ShopperId>,
    /// What it takes from where.
    pub lines: Vec<OrderLine>,
    /// Where it is.
    pub status: OrderStatus,
    /// Every status it entered, in order.
    pub timeline: Vec<StatusChange>,
}

impl Ledger {
    pub(crate) fn advance_order(
        &mut self,
        cmd: &AdvanceOrder,
        actor: &Actor,
        now_ms: u64,
    ) -> Result<Outcome, Rejection> {
        let order = self.order_for_update(&cmd.order_id)?;
        let (allowed, to) = match cmd.step {
            OrderStep::Picking => (order.status == OrderStatus::Confirmed, OrderStatus::Picking),
            OrderStep::Delivered => (order.status == OrderStatus::Shipped, OrderStatus::Delivered),
        };
        if !allowed {
            return Err(transition_error(order, to));
        }
        transition(order, to, actor, now_ms, String::new());
        Ok(Outcome::OrderUpdated { status: to })
    }

    pub(crate) fn ship_order(
        &mut self,
        cmd: &ShipOrder,
        command_id: &CommandId,
        actor: &Actor,
        now_ms: u64,
    ) -> Result<Outcome, Rejection> {
        self.require_warehouse(&cmd.warehouse)?;
        let order = self.order(&cmd.order_id).ok_or_else(|| unknown_order(&cmd.order_id))?;
        let shippable =
            matches!(order.status, OrderStatus::Confirmed | OrderStatus::Picking | OrderStatus::PartiallyShipped);
        if !shippable {
            return Err(transition_error(order, OrderStatus::Shipped));
        }
        let to_ship: Vec<usize> = (0..order.lines.len())
            .filter(|&i| !order.lines[i].shipped && order.lines[i].warehouse == cmd.warehouse)
            .collect();
        if to_ship.is_empty() {
            return Err(Rejection::NothingToShip { order_id: cmd.order_id.clone(), warehouse: cmd.warehouse.clone() });
        }
        let mut postings = Vec::with_capacity(to_ship.len());
        for &i in &to_ship {
            let line = &order.lines[i];
            let mut level = self.level(&line.sku, &line.warehouse);
            assert!(level.allocated >= line.qty, "allocated covers every unshipped line");
            // The units leave the shelf and the order's claim together, so
            // availability does not move.
            level.allocated -= line.qty;
            let deltas = Deltas { on_hand: -signed(line.qty), ..Deltas::default() };
            postings.push(propose(&line.sku, &line.warehouse, level, Reason::Shipped, deltas)?);
        }
        let reference = cmd.order_id.to_string();
        for posting in postings {
            self.post(posting, command_id, actor, &reference, now_ms);
        }
        let order = self.order_for_update(&cmd.order_id)?;
        for i in to_ship {
            order.lines[i].shipped = true;
        }
        let to = if order.lines.iter().all(|line| line.shipped) {
            OrderStatus::Shipped
        } else {
            OrderStatus::PartiallyShipped
        };
        transition(order, to, actor, now_ms, cmd.warehouse.to_string());
        Ok(Outcome::OrderUpdated { status: to })
    }

    pub(crate) fn cancel_order(&mut self, cmd: &CancelOrder, actor: &Actor, now_ms: u64) -> Result<Outcome, Rejection> {
        validate_text("reason", &cmd.reason)?;
        let order = self.order(&cmd.order_id).ok_or_else(|| unknown_order(&cmd.order_id))?;
        if !matches!(order.status, OrderStatus::Confirmed | OrderStatus::Picking) {
            return Err(transition_error(order, OrderStatus::Cancelled));
        }
        let lines = order.lines.clone();
        for line in &lines {
            let level = self.level_mut(&line.sku, &line.warehouse);
            assert!(level.allocated >= line.qty, "allocated covers every unshipped line");
            level.allocated -= line.qty;
        }
        let order = self.order_for_update(&cmd.order_id)?;
        transition(order, OrderStatus::Cancelled, actor, now_ms, cmd.reason.clone());
        Ok(Outcome::OrderUpdated { status: OrderStatus::Cancelled })
    }

    pub(crate) fn return_order(
        &mut self,
        cmd: &ReturnOrder,
        command_id: &CommandId,
        actor: &Actor,
        now_ms: u64,
    ) -> Result<Outcome, Rejection> {
        self.check_line_count(cmd.lines.len())?;
        let order = self.order(&cmd.order_id).ok_or_else(|| unknown_order(&cmd.order_id))?;
        let returnable_status =
            matches!(order.status, OrderStatus::Shipped | OrderStatus::Delivered | OrderStatus::PartiallyReturned);
        if !returnable_status {
            return Err(transition_error(order, OrderStatus::Returned));
        }
        // Check every line against the order and the shelf on paper first:
        // a bad line anywhere must leave everything untouched.
        let mut returned: Vec<Quantity> = order.lines.iter().map(|line| line.returned).collect();
        let mut levels = std::collections::BTreeMap::new();
        let mut postings = Vec::with_capacity(cmd.lines.len());
        for (i, ret) in cmd.lines.iter().enumerate() {
            validate_positive(("lines", i, "qty"), ret.qty)?;
            let Some(at) = order.lines.iter().position(|line| line.sku == ret.sku && line.warehouse == ret.warehouse)
            else {
                return Err(Rejection::invalid(
                    FieldName::name(("lines", i, "sku")),
                    format!("order has no line of {} from {}", ret.sku, ret.warehouse),
                ));
            };
            let returnable = order.lines[at].qty - returned[at];
            if ret.qty > returnable {
                return Err(Rejection::ReturnExceedsShipped {
                    sku: ret.sku.clone(),
                    warehouse: ret.warehouse.clone(),
                    requested: ret.qty,
                    returnable,
                });
            }
            returned[at] += ret.qty;
            let level = *levels
                .entry((ret.sku.clone(), ret.warehouse.clone()))
                .or_insert_with(|| self.level(&ret.sku, &ret.warehouse));
            let deltas = Deltas {
                on_hand: signed(ret.qty),
                damaged: if ret.damaged { signed(ret.qty) } else { 0 },
                ..Deltas::default()
            };
            let posting = propose(&ret.sku, &ret.warehouse, level, Reason::Returned, deltas)?;
            levels.insert((ret.sku.clone(), ret.warehouse.clone()), posting.level);
            postings.push(posting);
        }
        let reference = cmd.order_id.to_string();
        for posting in postings {
            self.post(posting, command_id, actor, &reference, now_ms);
        }
        let order = self.order_for_update(&cmd.order_id)?;
        for (line, returned) in order.lines.iter_mut().zip(returned) {
            line.returned = returned;
        }
        let to = if order.lines.iter().all(|line| line.returned == line.qty) {
            OrderStatus::Returned
        } else {
            OrderStatus::PartiallyReturned
        };
        transition(order, to, actor, now_ms, String::new());
        Ok(Outcome::OrderUpdated { status: to })
    }

    /// The order with this id.
    pub fn order(&self, order_id: &OrderId) -> Option<&Order> {
        self.state.orders.get(order_id).map(|order| &**order)
    }

    fn order_for_update(&mut self, order_id: &OrderId) -> Result<&mut Order, Rejection> {
        validate_id("order_id", order_id.as_str())?;
        self.state.orders.get_mut(order_id).map(Arc::make_mut).ok_or_else(|| unknown_order(order_id))
    }
}

fn unknown_order(order_id: &OrderId) -> Rejection {
    Rejection::UnknownOrder { order_id: order_id.clone() }
}

fn transition_error(order: &Order, to: OrderStatus) -> Rejection {
    Rejection::InvalidTransition {
        entity: "order".to_owned(),
        id: order.id.to_string(),
        from: order.status.name().to_owned(),
        to: to.name().to_owned(),
    }
}

fn transition(order: &mut Order, to: OrderStatus, actor: &Actor, now_ms: u64, note: String) {
    order.status = to;
    order.timeline.push(StatusChange { status: to, at_ms: now_ms, actor: actor.clone(), note });
}
