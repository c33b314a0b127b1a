//! Holds through orders to shipments, and short reservations.

use protos::common::{OrderStatus, PageRequest};
use protos::reservation::{
    AllocationPolicy, CommitHoldRequest, GetHoldRequest, GetOrderRequest, HoldState, ListOrdersRequest,
    ReleaseHoldRequest, ReserveLine, ReserveRequest, SplitMode,
};
use protos::status::ErrorDetail;
use protos::warehouse::{ConfirmShipmentRequest, JournalReason};
use tonic::Code;

use super::support::{
    ADMIN_TOKEN, LYON, LYON_TOKEN, Node, PARIS, PARIS_TOKEN, SERVICE_TOKEN, detail, failed, level, receive, stock,
};

/// A reservation of `lines`, Paris preferred, split allowed, one minute.
pub(crate) fn reserve(command_id: &str, hold_id: &str, lines: &[(&str, u64)]) -> ReserveRequest {
    ReserveRequest {
        command_id: command_id.into(),
        hold_id: hold_id.into(),
        lines: lines.iter().map(|(sku, quantity)| ReserveLine { sku: (*sku).into(), quantity: *quantity }).collect(),
        policy: Some(AllocationPolicy {
            preferred_warehouse_ids: vec![PARIS.into()],
            mode: SplitMode::SplitAllowed.into(),
        }),
        ttl_ms: 60_000,
        owner: "shopper-1".into(),
    }
}

fn ship(command_id: &str, warehouse: &str, order_id: &str) -> ConfirmShipmentRequest {
    ConfirmShipmentRequest { command_id: command_id.into(), warehouse_id: warehouse.into(), order_id: order_id.into() }
}

#[tokio::test]
async fn reserve_commit_and_ship_move_held_allocated_and_on_hand() {
    let node = Node::start().await;
    let mut admin = node.warehouses(ADMIN_TOKEN);
    admin.adjust_stock(receive("rx-1", PARIS, "sku-r", 10)).await.unwrap();
    admin.adjust_stock(receive("rx-2", LYON, "sku-r", 5)).await.unwrap();
    let mut gateway = node.reservations(SERVICE_TOKEN);

    let reserved = gateway.reserve(reserve("res-1", "hold-1", &[("sku-r", 12)])).await.unwrap().into_inner();
    let hold = reserved.hold.unwrap();
    assert_eq!((hold.hold_id.as_str(), hold.state(), hold.owner.as_str()), ("hold-1", HoldState::Pending, "shopper-1"));
    let claims: Vec<_> = hold.allocations.iter().map(|a| (a.warehouse_id.as_str(), a.quantity)).collect();
    assert_eq!(claims, [(LYON, 2), (PARIS, 10)], "sorted by (sku, warehouse)");
    assert_eq!(hold.expires_at_ms - hold.created_at_ms, 60_000);
    assert_eq!(level(&mut admin, PARIS, "sku-r").await, stock(PARIS, "sku-r", 10, 10, 0));
    let read = gateway.get_hold(GetHoldRequest { hold_id: "hold-1".into() }).await.unwrap().into_inner();
    assert_eq!(read, hold);

    let commit =
        CommitHoldRequest { command_id: "commit-1".into(), hold_id: "hold-1".into(), order_id: "order-1".into() };
    let order = gateway.commit_hold(commit).await.unwrap().into_inner().order.unwrap();
    assert_eq!(
        (order.status(), order.hold_id.as_str(), order.owner.as_str()),
        (OrderStatus::Confirmed, "hold-1", "shopper-1")
    );
    assert_eq!(order.lines.len(), 2);
    assert_eq!(level(&mut admin, LYON, "sku-r").await, stock(LYON, "sku-r", 5, 0, 2));
    let hold = gateway.get_hold(GetHoldRequest { hold_id: "hold-1".into() }).await.unwrap().into_inner();
    assert_eq!((hold.state(), hold.order_id.as_str()), (HoldState::Committed, "order-1"));

    let mut paris = node.warehouses(PARIS_TOKEN);
    let shipped = paris.confirm_shipment(ship("ship-1", PARIS, "order-1")).await.unwrap().into_inner();
    assert_eq!(shipped.order_status(), OrderStatus::PartiallyShipped);
    assert_eq!(shipped.levels, [stock(PARIS, "sku-r", 0, 0, 0)]);
    let entries: Vec<_> = shipped.entries.iter().map(|e| (e.reason(), e.on_hand_delta, e.reference.as_str())).collect();
    assert_eq!(entries, [(JournalReason::Shipped, -10, "order-1")]);
    // Nothing left to ship from Paris.
    let status = failed(paris.confirm_shipment(ship("ship-2", PARIS, "order-1")).await);
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");

    let mut lyon = node.warehouses(LYON_TOKEN);
    let shipped = lyon.confirm_shipment(ship("ship-3", LYON, "order-1")).await.unwrap().into_inner();
    assert_eq!(shipped.order_status(), OrderStatus::Shipped);
    assert_eq!(level(&mut lyon, LYON, "sku-r").await, stock(LYON, "sku-r", 3, 0, 0));

    let order = gateway.get_order(GetOrderRequest { order_id: "order-1".into() }).await.unwrap().into_inner();
    let timeline: Vec<_> = order.timeline.iter().map(|e| e.status()).collect();
    assert_eq!(timeline, [OrderStatus::Confirmed, OrderStatus::PartiallyShipped, OrderStatus::Shipped]);
    let listed = ListOrdersRequest {
        shopper_id: "shopper-1".into(),
        statuses: vec![OrderStatus::Shipped.into()],
        page: Some(PageRequest { cursor: String::new(), limit: 10 }),
    };
    let listed = gateway.list_orders(listed).await.unwrap().into_inner();
    assert_eq!(listed.orders, [order]);
    node.shutdown().await;
}

#[tokio::test]
async fn a_short_reservation_names_every_short_line_and_holds_nothing() {
    let node = Node::start().await;
    let mut admin = node.warehouses(ADMIN_TOKEN);
    admin.adjust_stock(receive("rx-1", PARIS, "sku-a", 3)).await.unwrap();
    admin.adjust_stock(receive("rx-2", LYON, "sku-b", 1)).await.unwrap();
    admin.adjust_stock(receive("rx-3", LYON, "sku-c", 9)).await.unwrap();
    let mut gateway = node.reservations(SERVICE_TOKEN);
    let before = node.observe().await;

    let request = reserve("res-1", "hold-1", &[("sku-a", 4), ("sku-b", 2), ("sku-c", 1)]);
    let status = failed(gateway.reserve(request).await);
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let ErrorDetail::InsufficientStock(short) = detail(&status) else { panic!("{status:?}") };
    let lines: Vec<_> = short.lines.iter().map(|l| (l.sku.as_str(), l.requested, l.available)).collect();
    assert_eq!(lines, [("sku-a", 4, 3), ("sku-b", 2, 1)]);
    assert_eq!(node.observe().await, before, "all or nothing");
    node.shutdown().await;
}

#[tokio::test]
async fn a_released_hold_returns_its_units() {
    let node = Node::start().await;
    let mut admin = node.warehouses(ADMIN_TOKEN);
    admin.adjust_stock(receive("rx-1", PARIS, "sku-a", 3)).await.unwrap();
    let mut gateway = node.reservations(SERVICE_TOKEN);
    gateway.reserve(reserve("res-1", "hold-1", &[("sku-a", 2)])).await.unwrap();
    assert_eq!(level(&mut admin, PARIS, "sku-a").await, stock(PARIS, "sku-a", 3, 2, 0));

    let release = ReleaseHoldRequest { command_id: "rel-1".into(), hold_id: "hold-1".into() };
    let released = gateway.release_hold(release.clone()).await.unwrap().into_inner().hold.unwrap();
    assert_eq!(released.state(), HoldState::Released);
    assert!(released.ended_at_ms.is_some());
    assert_eq!(level(&mut admin, PARIS, "sku-a").await, stock(PARIS, "sku-a", 3, 0, 0));
    // A second release of the ended hold (a new command) is refused.
    let again = ReleaseHoldRequest { command_id: "rel-2".into(), ..release };
    assert_eq!(failed(gateway.release_hold(again).await).code(), Code::FailedPrecondition);
    let unknown = GetHoldRequest { hold_id: "hold-404".into() };
    assert_eq!(failed(gateway.get_hold(unknown).await).code(), Code::NotFound);
    node.shutdown().await;
}
