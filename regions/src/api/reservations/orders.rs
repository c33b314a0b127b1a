//! GetOrder, ListOrders, AdvanceOrder, CancelOrder, ReturnOrder.

use ledger::command::{AdvanceOrder, CancelOrder, OrderStep, ReturnOrder};
use ledger::ids::{OrderId, ShopperId};
use ledger::orders::{Order, OrderStatus};
use ledger::{Command, Ledger, Outcome};
use protos::common::PageInfo;
use protos::reservation as pb;
use tonic::Status;

use super::get;
use crate::api::ApiContext;
use crate::api::convert::input::{Field, id, list_len, text};
use crate::api::convert::orders::{order, order_status_of, return_line_of};
use crate::api::convert::page::{CursorKey, Page, cut, page};
use crate::api::convert::{read_back, unexpected};
use crate::auth::Principal;
use crate::region::Consistency;

/// Most statuses a ListOrders filter may list (there are 8).
const MAX_STATUSES: usize = 32;

/// Serves GetOrder.
pub(super) async fn get_order(ctx: &ApiContext, request: pb::GetOrderRequest) -> Result<pb::Order, Status> {
    let order_id: OrderId = id("order_id", &request.order_id)?;
    get(ctx, "order", &request.order_id, |ledger| ledger.order(&order_id).map(order)).await
}

/// Serves ListOrders: a shopper's orders, newest first (by the time they
/// were confirmed, then by id), the cursor naming the last one returned.
///
/// The ledger indexes orders by id only, so a page costs a pass over every
/// order of the region under the read lock.
pub(super) async fn list_orders(
    ctx: &ApiContext,
    request: pb::ListOrdersRequest,
) -> Result<pb::ListOrdersResponse, Status> {
    let shopper: ShopperId = id("shopper_id", &request.shopper_id)?;
    list_len("statuses", request.statuses.len(), 0, MAX_STATUSES)?;
    let statuses =
        request.statuses.iter().enumerate().map(|(i, status)| order_status_of(Field::Item("statuses", i), *status));
    let statuses = statuses.collect::<Result<Vec<OrderStatus>, Status>>()?;
    let page = page::<OrderKey>(request.page.as_ref())?;
    let (orders, info) =
        ctx.read(Consistency::Linearizable, |ledger| orders_page(ledger, &shopper, &statuses, page)).await?.value;
    Ok(pb::ListOrdersResponse { orders, page: Some(info) })
}

/// Serves AdvanceOrder: PICKING or DELIVERED; any other (valid) status is a
/// transition this call does not make, `FAILED_PRECONDITION` as the
/// contract says.
pub(super) async fn advance_order(
    ctx: &ApiContext,
    principal: &Principal,
    request: pb::AdvanceOrderRequest,
) -> Result<pb::OrderResponse, Status> {
    let order_id: OrderId = id("order_id", &request.order_id)?;
    let step = match order_status_of("status", request.status)? {
        OrderStatus::Picking => OrderStep::Picking,
        OrderStatus::Delivered => OrderStep::Delivered,
        other => {
            return Err(Status::failed_precondition(format!(
                "AdvanceOrder moves an order to picking or delivered, not {}; shipping goes through ConfirmShipment",
                other.name()
            )));
        }
    };
    update(
        ctx,
        principal,
        &request.command_id,
        &order_id,
        Command::AdvanceOrder(AdvanceOrder { order_id: order_id.clone(), step }),
    )
    .await
}

/// Serves CancelOrder.
pub(super) async fn cancel_order(
    ctx: &ApiContext,
    principal: &Principal,
    request: pb::CancelOrderRequest,
) -> Result<pb::OrderResponse, Status> {
    let order_id: OrderId = id("order_id", &request.order_id)?;
    let command = CancelOrder { order_id: order_id.clone(), reason: text("reason", &request.reason)? };
    update(ctx, principal, &request.command_id, &order_id, Command::CancelOrder(command)).await
}

/// Serves ReturnOrder.
pub(super) async fn return_order(
    ctx: &ApiContext,
    principal: &Principal,
    request: pb::ReturnOrderRequest,
) -> Result<pb::OrderResponse, Status> {
    let order_id: OrderId = id("order_id", &request.order_id)?;
    let max_lines = usize::try_from(ctx.region.limits().max_lines_per_command).unwrap_or(usize::MAX);
    list_len("lines", request.lines.len(), 1, max_lines)?;
    let lines = request.lines.iter().enumerate().map(|(i, line)| return_line_of(i, line));
    let command = ReturnOrder { order_id: order_id.clone(), lines: lines.collect::<Result<_, Status>>()? };
    update(ctx, principal, &request.command_id, &order_id, Command::ReturnOrder(command)).await
}

/// Proposes an order command and answers the order as this replica reads it
/// right after.
async fn update(
    ctx: &ApiContext,
    principal: &Principal,
    command_id: &str,
    order_id: &OrderId,
    command: Command,
) -> Result<pb::OrderResponse, Status> {
    let written = ctx.write(principal, command_id, command).await?;
    let Outcome::OrderUpdated { .. } = written.outcome else { return Err(unexpected(&written.outcome)) };
    let updated = read_back(ctx, "the order", |ledger| ledger.order(order_id).map(order)).await?;
    Ok(pb::OrderResponse { order: Some(updated), applied_index: written.applied_index })
}

/// One page of `shopper`'s orders in `statuses` (all if empty), newest
/// first, after the page's cursor.
fn orders_page(
    ledger: &Ledger,
    shopper: &ShopperId,
    statuses: &[OrderStatus],
    page: Page<OrderKey>,
) -> (Vec<pb::Order>, PageInfo) {
    let selected =
        |o: &Order| o.owner.as_ref() == Some(shopper) && (statuses.is_empty() || statuses.contains(&o.status));
    let mut orders: Vec<(OrderKey, &Order)> =
        ledger.orders().into_iter().filter(|o| selected(o)).map(|o| (OrderKey::of(o), o)).collect();
    // Newest first: descending keys.
    orders.sort_unstable_by(|a, b| b.0.cmp(&a.0));
    let start = page.after.map_or(0, |after| orders.partition_point(|(key, _)| *key >= after));
    let (orders, info) = cut(orders.into_iter().skip(start), page.limit, |(key, _)| key.clone());
    (orders.into_iter().map(|(_, o)| order(o)).collect(), info)
}

/// The sort key of the order listing: when the order was confirmed, then
/// its id (unique), compared descending.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct OrderKey {
    confirmed_at_ms: u64,
    order_id: String,
}

impl OrderKey {
    fn of(order: &Order) -> Self {
        // The timeline starts with the confirmation, written with the order.
        let confirmed_at_ms = order.timeline.first().map_or(0, |change| change.at_ms);
        Self { confirmed_at_ms, order_id: order.id.to_string() }
    }
}

impl CursorKey for OrderKey {
    const LISTING: &'static str = "orders";

    fn to_parts(&self) -> Vec<String> {
        vec![self.confirmed_at_ms.to_string(), self.order_id.clone()]
    }

    fn from_parts(parts: &[String]) -> Option<Self> {
        match parts {
            [at, order_id] => Some(Self { confirmed_at_ms: at.parse().ok()?, order_id: order_id.clone() }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use ledger::command::{AdjustStock, Adjustment, CommitHold, HoldLine, RegisterWarehouse, Reserve, Split};
    use ledger::{Envelope, LedgerConfig};

    use super::*;

    /// A ledger with one order per `(order id, owner, time)`.
    fn ledger_with(orders: &[(&str, &str, u64)]) -> Ledger {
        let mut ledger = Ledger::new(LedgerConfig::new("eu"));
        let mut n = 0;
        let mut apply = |now_ms: u64, command: Command| {
            n += 1;
            let envelope = Envelope { id: format!("c-{n}").into(), now_ms, actor: "t".into(), command };
            ledger.apply(&envelope).result.expect("applies");
        };
        let register = RegisterWarehouse {
            warehouse: "wh".into(),
            region: "eu".into(),
            name: String::new(),
            location: String::new(),
            priority: 0,
        };
        apply(1, Command::RegisterWarehouse(register));
        let receive = AdjustStock {
            warehouse: "wh".into(),
            sku: "s".into(),
            adjustment: Adjustment::Received { qty: 1_000 },
            expected_on_hand: None,
            reference: String::new(),
        };
        apply(1, Command::AdjustStock(receive));
        for (order_id, owner, now_ms) in orders {
            let hold_id = format!("h-{order_id}");
            let reserve = Reserve {
                hold_id: hold_id.as_str().into(),
                lines: vec![HoldLine { sku: "s".into(), qty: 1 }],
                preferred_warehouses: vec![],
                split: Split::Allowed,
                ttl_ms: 60_000,
                owner: Some((*owner).into()),
            };
            apply(*now_ms, Command::Reserve(reserve));
            apply(
                *now_ms,
                Command::CommitHold(CommitHold { hold_id: hold_id.as_str().into(), order_id: (*order_id).into() }),
            );
        }
        ledger
    }

    fn ids(ledger: &Ledger, shopper: &str, limit: usize) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut after = None;
        loop {
            let (orders, info) = orders_page(ledger, &shopper.into(), &[], Page { after, limit });
            pages.push(orders.into_iter().map(|o| o.order_id).collect());
            if !info.has_more {
                return pages;
            }
            let request = protos::common::PageRequest { cursor: info.next_cursor, limit: 0 };
            after = page::<OrderKey>(Some(&request)).unwrap().after;
        }
    }

    #[test]
    fn a_shoppers_orders_come_newest_first_page_by_page() {
        let ledger = ledger_with(&[("o-1", "ann", 10), ("o-2", "bob", 20), ("o-3", "ann", 30), ("o-4", "ann", 30)]);
        assert_eq!(ids(&ledger, "ann", 2), [vec!["o-4".to_owned(), "o-3".into()], vec!["o-1".into()]]);
        assert_eq!(ids(&ledger, "bob", 10), [vec!["o-2".to_owned()]]);
        assert_eq!(ids(&ledger, "eve", 10), [Vec::<String>::new()]);
    }
}
