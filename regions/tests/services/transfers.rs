//! Transfers between the region's warehouses.

use protos::status::ErrorDetail;
use protos::warehouse::{JournalReason, TransferRequest};
use tonic::Code;

use super::support::{LYON, LYON_TOKEN, Node, PARIS, PARIS_TOKEN, detail, failed, level, receive, stock};

fn transfer(command_id: &str, from: &str, to: &str, quantity: u64) -> TransferRequest {
    TransferRequest {
        command_id: command_id.into(),
        from_warehouse_id: from.into(),
        to_warehouse_id: to.into(),
        sku: "sku-t".into(),
        quantity,
        reference: "TO-1".into(),
    }
}

#[tokio::test]
async fn a_transfer_moves_units_atomically_and_journals_both_sides() {
    let node = Node::start().await;
    let mut paris = node.warehouses(PARIS_TOKEN);
    paris.adjust_stock(receive("rx-1", PARIS, "sku-t", 10)).await.unwrap();

    let moved = paris.transfer(transfer("move-1", PARIS, LYON, 4)).await.unwrap().into_inner();
    assert_eq!(moved.from_level, Some(stock(PARIS, "sku-t", 6, 0, 0)));
    assert_eq!(moved.to_level, Some(stock(LYON, "sku-t", 4, 0, 0)));
    let sides: Vec<_> = moved
        .entries
        .iter()
        .map(|e| (e.reason(), e.warehouse_id.as_str(), e.on_hand_delta, e.reference.as_str()))
        .collect();
    assert_eq!(sides, [(JournalReason::TransferOut, PARIS, -4, "TO-1"), (JournalReason::TransferIn, LYON, 4, "TO-1")]);

    // More than the sender has: refused whole, the shortfall named.
    let before = node.observe().await;
    let status = failed(paris.transfer(transfer("move-2", PARIS, LYON, 7)).await);
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let ErrorDetail::InsufficientStock(short) = detail(&status) else { panic!("{status:?}") };
    assert_eq!(short.lines.len(), 1);
    assert_eq!(
        (short.lines[0].warehouse_id.as_str(), short.lines[0].requested, short.lines[0].available),
        (PARIS, 7, 6)
    );
    assert_eq!(node.observe().await, before);

    // Only the sender may send.
    let mut lyon = node.warehouses(LYON_TOKEN);
    let status = failed(lyon.transfer(transfer("move-3", PARIS, LYON, 1)).await);
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(node.observe().await, before);
    assert_eq!(level(&mut lyon, LYON, "sku-t").await, stock(LYON, "sku-t", 4, 0, 0));
    node.shutdown().await;
}
