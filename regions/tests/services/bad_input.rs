//! Bad requests: each is refused with the code the contract names and the
//! field at fault, and none changes anything.

use protos::common::{OrderStatus, PageRequest};
use protos::reservation::{
    AddToCartRequest, AdvanceOrderRequest, CheckoutLine, CommitHoldRequest, ReserveLine, StartCheckoutRequest,
};
use protos::warehouse::adjust_stock_request::Amount;
use protos::warehouse::{AdjustmentReason, CycleCountRequest, GetLevelsRequest, ListJournalRequest, TransferRequest};
use tonic::Code;

use super::reservations::reserve;
use super::support::{
    ADMIN_TOKEN, LYON, Node, PARIS, PARIS_TOKEN, SERVICE_TOKEN, adjust, assert_refused, failed, receive,
};

const MAX_QUANTITY: u64 = 1_000_000_000_000;

#[tokio::test]
async fn bad_warehouse_requests_are_refused_and_change_nothing() {
    let node = Node::start().await;
    let mut paris = node.warehouses(PARIS_TOKEN);
    let mut admin = node.warehouses(ADMIN_TOKEN);
    paris.adjust_stock(receive("rx-full", PARIS, "sku-full", MAX_QUANTITY)).await.unwrap();
    let before = node.observe().await;

    let long_id = "x".repeat(256);
    let count = |counted| CycleCountRequest {
        command_id: "c-count".into(),
        warehouse_id: PARIS.into(),
        sku: "sku".into(),
        counted,
        ..CycleCountRequest::default()
    };
    let transfer = |to: &str, quantity| TransferRequest {
        command_id: "c-move".into(),
        from_warehouse_id: PARIS.into(),
        to_warehouse_id: to.into(),
        sku: "sku-full".into(),
        quantity,
        reference: String::new(),
    };
    let page = |cursor: &str, limit| Some(PageRequest { cursor: cursor.into(), limit });
    let mut reason_99 = receive("c-99", PARIS, "sku", 1);
    reason_99.reason = 99;
    let mut unspecified = receive("c-0", PARIS, "sku", 1);
    unspecified.reason = AdjustmentReason::Unspecified.into();
    let mut long_reference = receive("c-ref", PARIS, "sku", 1);
    long_reference.reference = "r".repeat(1025);
    let mut oversized = receive("c-huge", PARIS, "sku", 1);
    oversized.reference = "r".repeat(5 << 20);
    let cases = [
        (failed(paris.adjust_stock(receive("c-1", PARIS, "sku", 0)).await), Code::InvalidArgument, "quantity"),
        (
            failed(paris.adjust_stock(receive("c-2", PARIS, "sku", MAX_QUANTITY + 1)).await),
            Code::OutOfRange,
            "quantity",
        ),
        (failed(paris.adjust_stock(receive("c-3", PARIS, "sku", u64::MAX)).await), Code::OutOfRange, "quantity"),
        (failed(paris.adjust_stock(receive("c-4", PARIS, "sku-full", 1)).await), Code::OutOfRange, "on_hand"),
        (failed(admin.adjust_stock(receive("c-5", "wh-nowhere", "sku", 1)).await), Code::NotFound, "wh-nowhere"),
        (failed(paris.adjust_stock(receive("c-6", PARIS, "", 1)).await), Code::InvalidArgument, "sku"),
        (failed(paris.adjust_stock(receive("c-7", PARIS, &long_id, 1)).await), Code::InvalidArgument, "sku"),
        (failed(paris.adjust_stock(receive("", PARIS, "sku", 1)).await), Code::InvalidArgument, "command_id"),
        (failed(paris.adjust_stock(receive(&long_id, PARIS, "sku", 1)).await), Code::InvalidArgument, "command_id"),
        (failed(paris.adjust_stock(long_reference).await), Code::InvalidArgument, "reference"),
        (failed(paris.adjust_stock(reason_99).await), Code::InvalidArgument, "reason"),
        (failed(paris.adjust_stock(unspecified).await), Code::InvalidArgument, "reason"),
        (
            failed(paris.adjust_stock(adjust("c-8", PARIS, "sku", AdjustmentReason::Received, Amount::Delta(1))).await),
            Code::InvalidArgument,
            "quantity",
        ),
        (
            failed(
                paris
                    .adjust_stock(adjust("c-9", PARIS, "sku", AdjustmentReason::Correction, Amount::Quantity(1)))
                    .await,
            ),
            Code::InvalidArgument,
            "delta",
        ),
        (failed(paris.cycle_count(count(MAX_QUANTITY + 1)).await), Code::OutOfRange, "counted"),
        (failed(paris.transfer(transfer(PARIS, 1)).await), Code::InvalidArgument, "to_warehouse_id"),
        (failed(paris.transfer(transfer(LYON, 0)).await), Code::InvalidArgument, "quantity"),
        (
            failed(
                paris
                    .get_levels(GetLevelsRequest {
                        warehouse_id: PARIS.into(),
                        skus: vec![],
                        page: page("", 501),
                        stale: false,
                    })
                    .await,
            ),
            Code::InvalidArgument,
            "page.limit",
        ),
        (
            failed(
                paris
                    .get_levels(GetLevelsRequest {
                        warehouse_id: PARIS.into(),
                        skus: (0..1001).map(|n| format!("sku-{n}")).collect(),
                        page: None,
                        stale: false,
                    })
                    .await,
            ),
            Code::InvalidArgument,
            "skus",
        ),
        (
            failed(
                paris
                    .list_journal(ListJournalRequest {
                        warehouse_id: PARIS.into(),
                        page: page("levels.00", 10),
                        ..ListJournalRequest::default()
                    })
                    .await,
            ),
            Code::InvalidArgument,
            "page.cursor",
        ),
        (failed(paris.adjust_stock(oversized).await), Code::OutOfRange, "too large"),
    ];
    for (status, code, field) in &cases {
        assert_refused(status, *code, field);
    }
    assert_eq!(node.observe().await, before);
    node.shutdown().await;
}

#[tokio::test]
async fn bad_reservation_requests_are_refused_and_change_nothing() {
    let node = Node::start().await;
    let mut admin = node.warehouses(ADMIN_TOKEN);
    admin.adjust_stock(receive("rx-1", PARIS, "sku-a", 10)).await.unwrap();
    let mut gateway = node.reservations(SERVICE_TOKEN);
    let before = node.observe().await;

    let with = |change: fn(&mut protos::reservation::ReserveRequest)| {
        let mut request = reserve("res-1", "hold-1", &[("sku-a", 1), ("sku-a", 2)]);
        change(&mut request);
        request
    };
    let checkout = |currency: &str, unit_price_minor| StartCheckoutRequest {
        command_id: "co-1".into(),
        checkout_id: "checkout-1".into(),
        shopper_id: "shopper-1".into(),
        currency: currency.into(),
        lines: vec![CheckoutLine { sku: "sku-a".into(), quantity: 1, unit_price_minor }],
    };
    let cases = [
        (failed(gateway.reserve(with(|r| r.lines[1].quantity = 0)).await), Code::InvalidArgument, "lines[1].quantity"),
        (
            failed(gateway.reserve(with(|r| r.lines[0].quantity = u64::MAX)).await),
            Code::OutOfRange,
            "lines[0].quantity",
        ),
        (failed(gateway.reserve(with(|r| r.lines.clear())).await), Code::InvalidArgument, "lines"),
        (
            failed(
                gateway.reserve(with(|r| r.lines = vec![ReserveLine { sku: "sku-a".into(), quantity: 1 }; 101])).await,
            ),
            Code::InvalidArgument,
            "lines",
        ),
        (failed(gateway.reserve(with(|r| r.ttl_ms = 0)).await), Code::InvalidArgument, "ttl_ms"),
        (
            failed(gateway.reserve(with(|r| r.policy.as_mut().unwrap().mode = 0)).await),
            Code::InvalidArgument,
            "policy.mode",
        ),
        (failed(gateway.reserve(with(|r| r.hold_id.clear())).await), Code::InvalidArgument, "hold_id"),
        (
            failed(
                gateway.reserve(with(|r| r.policy.as_mut().unwrap().preferred_warehouse_ids.push("wh-x".into()))).await,
            ),
            Code::InvalidArgument,
            "policy.preferred_warehouse_ids[1]",
        ),
        (
            failed(
                gateway
                    .commit_hold(CommitHoldRequest {
                        command_id: "commit-1".into(),
                        hold_id: "hold-404".into(),
                        order_id: "order-1".into(),
                    })
                    .await,
            ),
            Code::NotFound,
            "hold-404",
        ),
        (failed(gateway.start_checkout(checkout("eur", 100)).await), Code::InvalidArgument, "currency"),
        (failed(gateway.start_checkout(checkout("EUR", -1)).await), Code::InvalidArgument, "lines[0].unit_price_minor"),
        (
            failed(
                gateway
                    .add_to_cart(AddToCartRequest {
                        command_id: "cart-1".into(),
                        shopper_id: "shopper-1".into(),
                        sku: "sku-a".into(),
                        quantity: 1_000,
                    })
                    .await,
            ),
            Code::InvalidArgument,
            "quantity",
        ),
        (
            failed(
                gateway
                    .advance_order(AdvanceOrderRequest {
                        command_id: "adv-1".into(),
                        order_id: "order-1".into(),
                        status: OrderStatus::Unspecified.into(),
                    })
                    .await,
            ),
            Code::InvalidArgument,
            "status",
        ),
        (
            failed(
                gateway
                    .advance_order(AdvanceOrderRequest {
                        command_id: "adv-2".into(),
                        order_id: "order-1".into(),
                        status: OrderStatus::Shipped.into(),
                    })
                    .await,
            ),
            Code::FailedPrecondition,
            "ConfirmShipment",
        ),
    ];
    for (status, code, field) in &cases {
        assert_refused(status, *code, field);
    }
    assert_eq!(node.observe().await, before);
    node.shutdown().await;
}
