//! ReserveMany: each item answered as its own Reserve, a resend applying
//! nothing twice, bad calls refused whole; and the client's batcher, whose
//! concurrent callers each get their own outcome.

use protos::reservation::reserve_result::Outcome;
use protos::reservation::{ReserveManyRequest, ReserveResult};
use protos::status::ErrorDetail;
use region_client::{
    BatcherConfig, BearerToken, ClientConfig, ClientError, EndpointAddr, RegionClient, ReserveBatcher,
};
use tonic::{Code, Status};

use super::reservations::reserve;
use super::support::{
    ADMIN_TOKEN, Node, PARIS, PARIS_TOKEN, SERVICE_TOKEN, assert_refused, failed, level, receive, stock,
};

/// The hold id an item reserved, or the status it failed with.
fn read(result: &ReserveResult) -> Result<String, Status> {
    match result.outcome.clone().expect("every item has an outcome") {
        Outcome::Reserved(reserved) => Ok(reserved.hold.expect("a hold").hold_id),
        Outcome::Error(error) => Err(error.into()),
    }
}

#[tokio::test]
async fn each_item_is_answered_alone_and_a_resend_applies_nothing_twice() {
    let node = Node::start().await;
    let mut paris = node.warehouses(PARIS_TOKEN);
    paris.adjust_stock(receive("rx-1", PARIS, "sku-m", 5)).await.unwrap();
    let mut gateway = node.reservations(SERVICE_TOKEN);
    let mut bad = reserve("res-2", "hold-2", &[("sku-m", 1)]);
    bad.lines[0].quantity = 0;
    let request = ReserveManyRequest {
        reservations: vec![
            reserve("res-1", "hold-1", &[("sku-m", 2)]),
            bad,
            reserve("res-3", "hold-3", &[("sku-m", 2)]),
            reserve("res-4", "hold-4", &[("sku-m", 2)]),
        ],
    };

    let first = gateway.reserve_many(request.clone()).await.unwrap().into_inner();
    let outcomes: Vec<_> = first.results.iter().map(read).collect();
    assert_eq!(outcomes.len(), 4);
    assert_eq!(outcomes[0].as_ref().ok().map(String::as_str), Some("hold-1"));
    assert_refused(outcomes[1].as_ref().unwrap_err(), Code::InvalidArgument, "lines[0].quantity");
    assert_eq!(outcomes[2].as_ref().ok().map(String::as_str), Some("hold-3"));
    let short = outcomes[3].as_ref().unwrap_err();
    assert_eq!(short.code(), Code::FailedPrecondition, "{short:?}");
    let Ok(Some(ErrorDetail::InsufficientStock(detail))) = ErrorDetail::from_status(short) else { panic!("{short:?}") };
    assert_eq!((detail.lines[0].requested, detail.lines[0].available), (2, 1));
    assert_eq!(level(&mut paris, PARIS, "sku-m").await, stock(PARIS, "sku-m", 5, 4, 0));

    // The client's retry after a lost answer: the same holds, held once.
    let again = gateway.reserve_many(request).await.unwrap().into_inner();
    for (retried, original) in again.results.iter().zip(&first.results) {
        match (&retried.outcome, &original.outcome) {
            (Some(Outcome::Reserved(retried)), Some(Outcome::Reserved(original))) => {
                assert_eq!(retried.hold, original.hold);
            }
            (Some(Outcome::Error(retried)), Some(Outcome::Error(original))) => {
                assert_eq!(retried.code, original.code);
            }
            other => panic!("a resend answered differently: {other:?}"),
        }
    }
    assert_eq!(level(&mut paris, PARIS, "sku-m").await, stock(PARIS, "sku-m", 5, 4, 0));
    node.shutdown().await;
}

#[tokio::test]
async fn a_bad_call_is_refused_whole_and_changes_nothing() {
    let node = Node::start().await;
    node.warehouses(ADMIN_TOKEN).adjust_stock(receive("rx-1", PARIS, "sku-m", 5)).await.unwrap();
    let before = node.observe().await;
    let mut gateway = node.reservations(SERVICE_TOKEN);

    let empty = ReserveManyRequest { reservations: Vec::new() };
    assert_refused(&failed(gateway.reserve_many(empty).await), Code::InvalidArgument, "reservations");
    let reservations = (0..=protos::reservation::RESERVE_MANY_MAX)
        .map(|i| reserve(&format!("res-{i}"), &format!("hold-{i}"), &[("sku-m", 1)]))
        .collect();
    let oversized = ReserveManyRequest { reservations };
    assert_refused(&failed(gateway.reserve_many(oversized).await), Code::InvalidArgument, "reservations");

    let one = ReserveManyRequest { reservations: vec![reserve("res-1", "hold-1", &[("sku-m", 1)])] };
    let status = failed(node.reservations(PARIS_TOKEN).reserve_many(one.clone()).await);
    assert_eq!(status.code(), Code::PermissionDenied, "a warehouse may not reserve: {status:?}");
    let status = failed(node.reservations("not-a-token-of-this-region").reserve_many(one).await);
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(node.observe().await, before);
    node.shutdown().await;
}

#[tokio::test]
async fn the_batcher_answers_every_caller_with_its_own_outcome() {
    const STOCK: u64 = 40;
    const CALLERS: usize = 64;
    let node = Node::start().await;
    let mut paris = node.warehouses(PARIS_TOKEN);
    paris.adjust_stock(receive("rx-1", PARIS, "sku-b", STOCK)).await.unwrap();
    let endpoint = EndpointAddr::parse(&node.api_addr().to_string()).unwrap();
    let client =
        RegionClient::new([endpoint], BearerToken::parse(SERVICE_TOKEN).unwrap(), ClientConfig::default()).unwrap();
    // Few slots, so callers queue up and share calls.
    let batcher = ReserveBatcher::new(client, BatcherConfig { max_batch: 16, max_in_flight: 2, queue_depth: 64 })
        .expect("a valid config");

    let mut callers = tokio::task::JoinSet::new();
    for i in 0..CALLERS {
        let batcher = batcher.clone();
        callers.spawn(async move {
            let hold_id = format!("hold-{i}");
            let request = reserve(&format!("res-{i}"), &hold_id, &[("sku-b", 1)]);
            (hold_id, batcher.reserve(request).await)
        });
    }
    let (mut held, mut short) = (0, 0);
    while let Some(joined) = callers.join_next().await {
        match joined.expect("a caller finished") {
            (hold_id, Ok(reserved)) => {
                assert_eq!(reserved.hold.expect("a hold").hold_id, hold_id, "each caller gets its own hold");
                held += 1;
            }
            (_, Err(ClientError::Rejected { detail: Some(ErrorDetail::InsufficientStock(_)), .. })) => short += 1,
            (hold_id, Err(error)) => panic!("{hold_id}: {error}"),
        }
    }
    assert_eq!((held, short), (STOCK, CALLERS as u64 - STOCK));
    assert_eq!(level(&mut paris, PARIS, "sku-b").await, stock(PARIS, "sku-b", STOCK, STOCK, 0));
    node.shutdown().await;
}

#[tokio::test]
async fn when_the_call_fails_every_caller_gets_its_error() {
    let node = Node::start().await;
    let endpoint = EndpointAddr::parse(&node.api_addr().to_string()).unwrap();
    node.shutdown().await;
    let config = ClientConfig::with_deadline(std::time::Duration::from_millis(300));
    let client = RegionClient::new([endpoint], BearerToken::parse(SERVICE_TOKEN).unwrap(), config).unwrap();
    let batcher = ReserveBatcher::new(client, BatcherConfig { max_batch: 8, max_in_flight: 1, queue_depth: 8 })
        .expect("a valid config");
    let callers: Vec<_> = (0..4)
        .map(|i| {
            let batcher = batcher.clone();
            tokio::spawn(async move { batcher.reserve(reserve(&format!("res-{i}"), "hold", &[("sku-b", 1)])).await })
        })
        .collect();
    for caller in callers {
        let error = caller.await.expect("a caller finished").expect_err("nobody serves the region");
        assert!(matches!(error, ClientError::Unreachable { .. }), "never sent, so nothing applied: {error}");
    }
}
