//! WatchLevels: the snapshot first, then live changes in log order.

use protos::warehouse::{LevelUpdate, WatchLevelsRequest};
use tonic::Streaming;

use super::reservations::reserve;
use super::support::{Node, PARIS, PARIS_TOKEN, SERVICE_TOKEN, TIMEOUT, receive, stock};

async fn next(stream: &mut Streaming<LevelUpdate>) -> LevelUpdate {
    let message = tokio::time::timeout(TIMEOUT, stream.message()).await.expect("an update in time");
    message.expect("a healthy stream").expect("the stream is open")
}

#[tokio::test]
async fn a_watch_gets_the_snapshot_then_each_change() {
    let node = Node::start().await;
    let mut paris = node.warehouses(PARIS_TOKEN);
    paris.adjust_stock(receive("rx-1", PARIS, "sku-w", 3)).await.unwrap();
    paris.adjust_stock(receive("rx-2", PARIS, "sku-other", 1)).await.unwrap();

    let request = WatchLevelsRequest { warehouse_id: PARIS.into(), skus: vec!["sku-w".into(), "sku-new".into()] };
    let mut watch = paris.watch_levels(request).await.unwrap().into_inner();
    let first = next(&mut watch).await;
    let second = next(&mut watch).await;
    assert!(first.snapshot && second.snapshot);
    assert_eq!(first.applied_index, second.applied_index, "one snapshot, one index");
    assert_eq!(first.level, Some(stock(PARIS, "sku-new", 0, 0, 0)));
    assert_eq!(second.level, Some(stock(PARIS, "sku-w", 3, 0, 0)));

    // A change of an unwatched SKU is not sent; a watched one is.
    paris.adjust_stock(receive("rx-3", PARIS, "sku-other", 1)).await.unwrap();
    let written = paris.adjust_stock(receive("rx-4", PARIS, "sku-w", 2)).await.unwrap().into_inner();
    let live = next(&mut watch).await;
    assert!(!live.snapshot);
    assert_eq!(live.level, Some(stock(PARIS, "sku-w", 5, 0, 0)));
    assert!(live.applied_index >= written.applied_index);

    // Holds change levels too.
    let mut gateway = node.reservations(SERVICE_TOKEN);
    let held = gateway.reserve(reserve("res-1", "hold-1", &[("sku-w", 4)])).await.unwrap().into_inner();
    let live = next(&mut watch).await;
    assert_eq!(live.level, Some(stock(PARIS, "sku-w", 5, 4, 0)));
    assert!(live.applied_index >= held.applied_index);
    drop(watch);
    node.shutdown().await;
}

#[tokio::test]
async fn a_watch_of_every_sku_sees_new_levels() {
    let node = Node::start().await;
    let mut gateway = node.warehouses(SERVICE_TOKEN);
    let mut watch = gateway.watch_levels(WatchLevelsRequest::default()).await.unwrap().into_inner();
    let mut paris = node.warehouses(PARIS_TOKEN);
    paris.adjust_stock(receive("rx-1", PARIS, "sku-first", 7)).await.unwrap();
    let live = next(&mut watch).await;
    assert_eq!((live.snapshot, live.level), (false, Some(stock(PARIS, "sku-first", 7, 0, 0))));
    node.shutdown().await;
}
