//! Retries with the same command id: the stored result, no second effect;
//! another payload under the same id: ALREADY_EXISTS with
//! `IdempotencyConflict`.

use protos::status::ErrorDetail;
use protos::warehouse::ListJournalRequest;
use tonic::Code;

use super::reservations::reserve;
use super::support::{ADMIN_TOKEN, Node, PARIS, PARIS_TOKEN, SERVICE_TOKEN, detail, failed, level, receive, stock};

#[tokio::test]
async fn a_retried_write_applies_once_and_a_reused_id_conflicts() {
    let node = Node::start().await;
    let mut paris = node.warehouses(PARIS_TOKEN);

    let first = paris.adjust_stock(receive("rx-1", PARIS, "sku-i", 10)).await.unwrap().into_inner();
    let retry = paris.adjust_stock(receive("rx-1", PARIS, "sku-i", 10)).await.unwrap().into_inner();
    // The retry rode a later log entry: its index is that entry's.
    assert!(retry.applied_index > first.applied_index);
    assert_eq!((retry.level, retry.entry), (first.level, first.entry), "the retry answers the stored result");
    assert_eq!(level(&mut paris, PARIS, "sku-i").await, stock(PARIS, "sku-i", 10, 0, 0));
    let journal = ListJournalRequest { warehouse_id: PARIS.into(), ..ListJournalRequest::default() };
    assert_eq!(paris.list_journal(journal).await.unwrap().into_inner().entries.len(), 1);

    let before = node.observe().await;
    let status = failed(paris.adjust_stock(receive("rx-1", PARIS, "sku-i", 11)).await);
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    let ErrorDetail::IdempotencyConflict(conflict) = detail(&status) else { panic!("{status:?}") };
    assert_eq!(conflict.command_id, "rx-1");
    // The actor is part of the payload: the same request from another caller conflicts too.
    let mut admin = node.warehouses(ADMIN_TOKEN);
    assert_eq!(failed(admin.adjust_stock(receive("rx-1", PARIS, "sku-i", 10)).await).code(), Code::AlreadyExists);
    assert_eq!(node.observe().await, before);

    // A retried reservation answers the same hold and holds once.
    let mut gateway = node.reservations(SERVICE_TOKEN);
    let held = gateway.reserve(reserve("res-1", "hold-1", &[("sku-i", 4)])).await.unwrap().into_inner();
    let again = gateway.reserve(reserve("res-1", "hold-1", &[("sku-i", 4)])).await.unwrap().into_inner();
    assert_eq!(again.hold, held.hold);
    assert_eq!(level(&mut paris, PARIS, "sku-i").await, stock(PARIS, "sku-i", 10, 4, 0));
    // A new command for the same hold id is a different intent: the hold exists.
    let status = failed(gateway.reserve(reserve("res-2", "hold-1", &[("sku-i", 4)])).await);
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert_eq!(ErrorDetail::from_status(&status), Ok(None), "a taken hold id carries no detail");
    node.shutdown().await;
}
