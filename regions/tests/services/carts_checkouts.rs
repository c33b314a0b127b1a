//! Carts and the checkout saga's record, end to end.

use protos::common::OrderStatus;
use protos::reservation::checkout_step::Step;
use protos::reservation::{
    AddToCartRequest, CancelOrderRequest, CheckoutLine, CheckoutState, CheckoutStep, CommitHoldRequest, GetCartRequest,
    GetCheckoutRequest, HoldsPlaced, MergeCartsRequest, PlacedHold, RecordCheckoutStepRequest, SetCartLineRequest,
    StartCheckoutRequest,
};
use tonic::Code;

use super::reservations::reserve;
use super::support::{ADMIN_TOKEN, Node, PARIS, REGION, SERVICE_TOKEN, failed, level, receive, stock};

fn add(command_id: &str, shopper: &str, sku: &str, quantity: u64) -> AddToCartRequest {
    AddToCartRequest { command_id: command_id.into(), shopper_id: shopper.into(), sku: sku.into(), quantity }
}

#[tokio::test]
async fn carts_add_set_merge_and_read() {
    let node = Node::start().await;
    let mut gateway = node.reservations(SERVICE_TOKEN);
    gateway.add_to_cart(add("a-1", "guest-1", "sku-a", 2)).await.unwrap();
    gateway.add_to_cart(add("a-2", "shopper-1", "sku-a", 1)).await.unwrap();
    let set = SetCartLineRequest {
        command_id: "s-1".into(),
        shopper_id: "shopper-1".into(),
        sku: "sku-b".into(),
        quantity: 5,
    };
    let cart = gateway.set_cart_line(set).await.unwrap().into_inner().cart.unwrap();
    assert_eq!(
        cart.lines.iter().map(|l| (l.sku.as_str(), l.quantity)).collect::<Vec<_>>(),
        [("sku-a", 1), ("sku-b", 5)]
    );

    let merge =
        MergeCartsRequest { command_id: "m-1".into(), guest_id: "guest-1".into(), shopper_id: "shopper-1".into() };
    let merged = gateway.merge_carts(merge).await.unwrap().into_inner();
    let cart = merged.cart.unwrap();
    assert_eq!(cart.shopper_id, "shopper-1");
    assert_eq!(
        cart.lines.iter().map(|l| (l.sku.as_str(), l.quantity)).collect::<Vec<_>>(),
        [("sku-a", 3), ("sku-b", 5)]
    );
    assert!(merged.applied_index > 0);
    let guest = gateway.get_cart(GetCartRequest { shopper_id: "guest-1".into() }).await.unwrap().into_inner();
    assert!(guest.lines.is_empty(), "the guest cart is gone");
    let read = gateway.get_cart(GetCartRequest { shopper_id: "shopper-1".into() }).await.unwrap().into_inner();
    assert_eq!(read, cart);
    node.shutdown().await;
}

#[tokio::test]
async fn a_checkout_records_its_steps_and_an_order_can_be_cancelled() {
    let node = Node::start().await;
    let mut admin = node.warehouses(ADMIN_TOKEN);
    admin.adjust_stock(receive("rx-1", PARIS, "sku-a", 5)).await.unwrap();
    let mut gateway = node.reservations(SERVICE_TOKEN);

    let start = StartCheckoutRequest {
        command_id: "co-1".into(),
        checkout_id: "checkout-1".into(),
        shopper_id: "shopper-1".into(),
        currency: "EUR".into(),
        lines: vec![CheckoutLine { sku: "sku-a".into(), quantity: 2, unit_price_minor: 1_250 }],
    };
    let started = gateway.start_checkout(start).await.unwrap().into_inner().checkout.unwrap();
    assert_eq!((started.state(), started.total_minor), (CheckoutState::Started, 2_500));

    gateway.reserve(reserve("res-1", "hold-1", &[("sku-a", 2)])).await.unwrap();
    let step = RecordCheckoutStepRequest {
        command_id: "co-2".into(),
        checkout_id: "checkout-1".into(),
        step: Some(CheckoutStep {
            at_ms: 0,
            step: Some(Step::HoldsPlaced(HoldsPlaced {
                holds: vec![PlacedHold { region: REGION.into(), hold_id: "hold-1".into() }],
            })),
        }),
    };
    let recorded = gateway.record_checkout_step(step).await.unwrap().into_inner().checkout.unwrap();
    assert_eq!(recorded.state(), CheckoutState::HoldsPlaced);
    assert_eq!(recorded.steps.len(), 1);
    assert!(recorded.steps[0].at_ms > 0, "the leader stamps the time");
    let read =
        gateway.get_checkout(GetCheckoutRequest { checkout_id: "checkout-1".into() }).await.unwrap().into_inner();
    assert_eq!(read, recorded);

    let commit =
        CommitHoldRequest { command_id: "commit-1".into(), hold_id: "hold-1".into(), order_id: "order-1".into() };
    gateway.commit_hold(commit).await.unwrap();
    assert_eq!(level(&mut admin, PARIS, "sku-a").await, stock(PARIS, "sku-a", 5, 0, 2));
    let cancel =
        CancelOrderRequest { command_id: "cancel-1".into(), order_id: "order-1".into(), reason: "changed mind".into() };
    let cancelled = gateway.cancel_order(cancel).await.unwrap().into_inner().order.unwrap();
    assert_eq!(cancelled.status(), OrderStatus::Cancelled);
    assert_eq!(cancelled.timeline.last().map(|e| e.note.as_str()), Some("changed mind"));
    assert_eq!(level(&mut admin, PARIS, "sku-a").await, stock(PARIS, "sku-a", 5, 0, 0));
    let missing = GetCheckoutRequest { checkout_id: "checkout-404".into() };
    assert_eq!(failed(gateway.get_checkout(missing).await).code(), Code::NotFound);
    node.shutdown().await;
}
