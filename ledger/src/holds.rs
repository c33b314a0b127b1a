//! Holds (reservations): stock claimed for a shopper for a bounded time,
//! then committed into an order, released, or expired. Exactly one of the
//! three ends each hold.
//!
//! "Check available ≥ n and hold it" is one command, applied atomically: the
//! check-then-write race behind every oversell bug reported against other
//! commerce backends cannot happen here.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::command::{CommitHold, ReleaseHold, Reserve, Split};
use crate::ids::{Actor, HoldId, OrderId, ShopperId, Sku, WarehouseId, validate_id};
use crate::ledger::Ledger;
use crate::orders::{Order, OrderLine, OrderStatus, StatusChange};
use crate::outcome::Outcome;
use crate::quantity::{MAX_QUANTITY, Quantity, validate_positive};
use crate::rejection::{Rejection, ShortLine};
use crate::stock::StockLevel;

/// Units of one SKU claimed at one warehouse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// The SKU.
    pub sku: Sku,
    /// The warehouse the units are claimed at.
    pub warehouse: WarehouseId,
    /// Units claimed.
    pub qty: Quantity,
}

/// Where a hold is in its life. Only `Pending` claims stock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HoldStatus {
    /// Claims its stock until committed, released, or its deadline passes.
    Pending,
    /// Became an order.
    Committed {
        /// The order created.
        order_id: OrderId,
    },
    /// Released by its owner.
    Released,
    /// Its deadline passed first.
    Expired,
}

impl HoldStatus {
    /// A short lowercase name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            HoldStatus::Pending => "pending",
            HoldStatus::Committed { .. } => "committed",
            HoldStatus::Released => "released",
            HoldStatus::Expired => "expired",
        }
    }
}

/// A reservation of stock across the region's warehouses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Its id.
    pub id: HoldId,
    /// Whose it is.
    pub owner: Option<ShopperId>,
    /// What it claims, one entry per `(sku, warehouse)`: by SKU, then in
    /// the order the warehouses were drawn from.
    pub allocations: Vec<Allocation>,
    /// When it was placed.
    pub created_at_ms: u64,
    /// The first instant it no longer counts.
    pub expires_at_ms: u64,
    /// Where it is in its life.
    pub status: HoldStatus,
    /// When it ended, once it has.
    pub ended_at_ms: Option<u64>,
}

impl Ledger {
    pub(crate) fn reserve(&mut self, cmd: &Reserve, now_ms: u64) -> Result<Outcome, Rejection> {
        validate_id("hold_id", cmd.hold_id.as_str())?;
        if let Some(owner) = &cmd.owner {
            validate_id("owner", owner.as_str())?;
        }
        self.check_line_count(cmd.lines.len())?;
        if cmd.ttl_ms == 0 || cmd.ttl_ms > self.state.config.max_hold_ttl_ms {
            return Err(Rejection::invalid(
                "ttl_ms",
                format!("must be between 1 and {}", self.state.config.max_hold_ttl_ms),
            ));
        }
        // A deadline past the end of `u64` time would saturate to `now`: a
        // pending hold already at its deadline, which breaks the invariants
        // (and makes the ledger's own snapshot unrestorable).
        let Some(expires_at_ms) = now_ms.checked_add(cmd.ttl_ms) else {
            return Err(Rejection::invalid("ttl_ms", "the deadline would be past the end of time"));
        };
        for (i, warehouse) in cmd.preferred_warehouses.iter().enumerate() {
            if !self.state.warehouses.contains_key(warehouse) {
                return Err(Rejection::invalid(
                    format!("preferred_warehouses[{i}]"),
                    format!("unknown warehouse {warehouse}"),
                ));
            }
        }
        let demand = sum_demand(cmd)?;
        if self.hold(&cmd.hold_id).is_some() {
            return Err(Rejection::HoldExists { hold_id: cmd.hold_id.clone() });
        }
        let allocations = match cmd.split {
            Split::Allowed => self.allocate_split(&demand, &cmd.preferred_warehouses)?,
            Split::SingleWarehouse => self.allocate_single(&demand, &cmd.preferred_warehouses)?,
        };
        for allocation in &allocations {
            let level = self.level_mut(&allocation.sku, &allocation.warehouse);
            level.held += allocation.qty;
            debug_assert!(level.held <= level.on_hand);
        }
        self.index.track_pending(expires_at_ms, &cmd.hold_id);
        self.state.pending_holds.insert(
            cmd.hold_id.clone(),
            Arc::new(Hold {
                id: cmd.hold_id.clone(),
                owner: cmd.owner.clone(),
                allocations: allocations.clone(),
                created_at_ms: now_ms,
                expires_at_ms,
                status: HoldStatus::Pending,
                ended_at_ms: None,
            }),
        );
        Ok(Outcome::Reserved { allocations, expires_at_ms })
    }

    /// Fills each SKU's demand from warehouses in preference order (the
    /// preferred list, then the rest by priority), splitting across
    /// warehouses where one is not enough. Reads only.
    fn allocate_split(
        &self,
        demand: &[(&Sku, Quantity)],
        preferred: &[WarehouseId],
    ) -> Result<Vec<Allocation>, Rejection> {
        let mut allocations = Vec::with_capacity(demand.len());
        let mut short = Vec::new();
        for &(sku, wanted) in demand {
            let Some(by_warehouse) = self.state.levels.get(sku) else {
                short.push(ShortLine { sku: sku.clone(), warehouse: None, requested: wanted, available: 0 });
                continue;
            };
            let first_allocation = allocations.len();
            let mut remaining = wanted;
            for warehouse in self.index.allocation_order(preferred) {
                if remaining == 0 {
                    break;
                }
                let available = by_warehouse.get(warehouse).map_or(0, |l| l.available());
                let take = available.min(remaining);
                if take > 0 {
                    remaining -= take;
                    allocations.push(Allocation { sku: sku.clone(), warehouse: warehouse.clone(), qty: take });
                }
            }
            if remaining > 0 {
                allocations.truncate(first_allocation);
                short.push(ShortLine {
                    sku: sku.clone(),
                    warehouse: None,
                    requested: wanted,
                    available: wanted - remaining,
                });
            }
        }
        if short.is_empty() { Ok(allocations) } else { Err(Rejection::InsufficientStock { lines: short }) }
    }

    /// Fills every line from the first warehouse, in preference order,
    /// that can fill them all. When none can, the short lines are those of
    /// the warehouse that came closest (most units). Reads only.
    fn allocate_single(
        &self,
        demand: &[(&Sku, Quantity)],
        preferred: &[WarehouseId],
    ) -> Result<Vec<Allocation>, Rejection> {
        let mut closest: Option<(&WarehouseId, Quantity)> = None;
        for warehouse in self.index.allocation_order(preferred) {
            let covered: Quantity =
                demand.iter().map(|&(sku, wanted)| self.available_at(sku, warehouse).min(wanted)).sum();
            let wanted: Quantity = demand.iter().map(|&(_, wanted)| wanted).sum();
            if covered == wanted {
                let fill =
                    |&(sku, qty): &(&Sku, Quantity)| Allocation { sku: sku.clone(), warehouse: warehouse.clone(), qty };
                return Ok(demand.iter().map(fill).collect());
            }
            if closest.is_none_or(|(_, best)| covered > best) {
                closest = Some((warehouse, covered));
            }
        }
        let lines = demand
            .iter()
            .filter_map(|&(sku, wanted)| {
                let available = closest.map_or(0, |(warehouse, _)| self.available_at(sku, warehouse));
                (available < wanted).then(|| ShortLine {
                    sku: sku.clone(),
                    warehouse: closest.map(|(warehouse, _)| warehouse.clone()),
                    requested: wanted,
                    available,
                })
            })
            .collect();
        Err(Rejection::InsufficientStock { lines })
    }

    /// Units of `sku` a new hold may take at `warehouse`.
    fn available_at(&self, sku: &Sku, warehouse: &WarehouseId) -> Quantity {
        self.state.levels.get(sku).and_then(|by_warehouse| by_warehouse.get(warehouse)).map_or(0, StockLevel::available)
    }

    pub(crate) fn commit_hold(&mut self, cmd: &CommitHold, actor: &Actor, now_ms: u64) -> Result<Outcome, Rejection> {
        validate_id("order_id", cmd.order_id.as_str())?;
        self.pending_hold(&cmd.hold_id)?;
        if self.state.orders.contains_key(&cmd.order_id) {
            return Err(Rejection::OrderExists { order_id: cmd.order_id.clone() });
        }
        let hold = self.end_hold(&cmd.hold_id, HoldStatus::Committed { order_id: cmd.order_id.clone() }, now_ms);
        let hold = &*hold;
        let lines = hold
            .allocations
            .iter()
            .map(|allocation| OrderLine {
                sku: allocation.sku.clone(),
                warehouse: allocation.warehouse.clone(),
                qty: allocation.qty,
                shipped: false,
                returned: 0,
            })
            .collect();
        let (hold_id, owner) = (hold.id.clone(), hold.owner.clone());
        self.state.orders.insert(
            cmd.order_id.clone(),
            Arc::new(Order {
                id: cmd.order_id.clone(),
                hold_id,
                owner,
                lines,
                status: OrderStatus::Confirmed,
                timeline: vec![StatusChange {
                    status: OrderStatus::Confirmed,
                    at_ms: now_ms,
                    actor: actor.clone(),
                    note: String::new(),
                }],
            }),
        );
        Ok(Outcome::HoldCommitted { order_id: cmd.order_id.clone() })
    }

    pub(crate) fn release_hold(&mut self, cmd: &ReleaseHold, now_ms: u64) -> Result<Outcome, Rejection> {
        self.pending_hold(&cmd.hold_id)?;
        self.end_hold(&cmd.hold_id, HoldStatus::Released, now_ms);
        Ok(Outcome::HoldReleased)
    }

    /// Ends every pending hold whose deadline is at or before `now_ms`,
    /// returning their stock. Runs at the start of every apply, so a hold
    /// stops counting at its deadline whether or not `Expire` is proposed.
    pub(crate) fn expire_due_holds(&mut self, now_ms: u64) -> u64 {
        let mut expired = 0;
        while let Some((deadline, hold_ids)) = self.index.take_due(now_ms) {
            for hold_id in hold_ids {
                let still_pending =
                    self.state.pending_holds.get(&hold_id).is_some_and(|hold| hold.expires_at_ms == deadline);
                if still_pending {
                    self.end_hold(&hold_id, HoldStatus::Expired, now_ms);
                    expired += 1;
                }
            }
        }
        expired
    }

    /// The hold, if it is pending; the reason it cannot be used otherwise.
    fn pending_hold(&self, hold_id: &HoldId) -> Result<&Hold, Rejection> {
        validate_id("hold_id", hold_id.as_str())?;
        if let Some(hold) = self.state.pending_holds.get(hold_id) {
            return Ok(hold);
        }
        let hold = self.ended_hold(hold_id).ok_or_else(|| Rejection::UnknownHold { hold_id: hold_id.clone() })?;
        Err(Rejection::HoldNotPending { hold_id: hold_id.clone(), status: hold.status.name().to_owned() })
    }

    /// Ends a pending hold (exactly once) and moves its claims: `held`
    /// falls at every allocation and, when the hold became an order,
    /// `allocated` rises by as much. The hold joins the history, where it
    /// stays unchanged until purged.
    fn end_hold(&mut self, hold_id: &HoldId, status: HoldStatus, now_ms: u64) -> Arc<Hold> {
        let mut hold = self.state.pending_holds.remove(hold_id).expect("invariant: ending a pending hold");
        let into_order = matches!(status, HoldStatus::Committed { .. });
        for allocation in &hold.allocations {
            let level = self
                .state
                .levels
                .get_mut(&allocation.sku)
                .and_then(|by_warehouse| by_warehouse.get_mut(&allocation.warehouse))
                .expect("invariant: a level with claims exists");
            assert!(level.held >= allocation.qty, "held covers every pending hold");
            level.held -= allocation.qty;
            if into_order {
                level.allocated += allocation.qty;
            }
        }
        let ended = Arc::make_mut(&mut hold);
        ended.status = status;
        ended.ended_at_ms = Some(now_ms);
        let position = self.state.ended_holds.push_back(&hold);
        self.index.ended_holds.insert(hold_id, position);
        hold
    }

    /// The hold with this id, pending or ended (ended holds are purged after
    /// the retention window, and decoded from the history when read).
    pub fn hold(&self, hold_id: &HoldId) -> Option<Cow<'_, Hold>> {
        match self.state.pending_holds.get(hold_id) {
            Some(hold) => Some(Cow::Borrowed(&**hold)),
            None => self.ended_hold(hold_id).map(Cow::Owned),
        }
    }

    /// The ended hold with this id, if still kept.
    fn ended_hold(&self, hold_id: &HoldId) -> Option<Hold> {
        let (_, hold) = self.index.ended_holds.look_up(&self.state.ended_holds, hold_id, |hold| &hold.id)?;
        Some(hold)
    }
}

/// Validates lines and sums each SKU's demand (bundles list a SKU twice),
/// in SKU order. A linear scan: there are at most `max_lines_per_command`.
fn sum_demand(cmd: &Reserve) -> Result<Vec<(&Sku, Quantity)>, Rejection> {
    let mut demand: Vec<(&Sku, Quantity)> = Vec::with_capacity(cmd.lines.len());
    for (i, line) in cmd.lines.iter().enumerate() {
        validate_id(("lines", i, "sku"), line.sku.as_str())?;
        validate_positive(("lines", i, "qty"), line.qty)?;
        let at = match demand.iter().position(|(sku, _)| *sku == &line.sku) {
            Some(at) => at,
            None => {
                demand.push((&line.sku, 0));
                demand.len() - 1
            }
        };
        demand[at].1 += line.qty;
        if demand[at].1 > MAX_QUANTITY {
            return Err(Rejection::invalid(
                format!("lines[{i}].qty"),
                "the SKU's total demand exceeds the maximum quantity 10^12",
            ));
        }
    }
    demand.sort_unstable_by(|a, b| a.0.cmp(b.0));
    Ok(demand)
}
