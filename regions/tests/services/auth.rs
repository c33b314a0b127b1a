//! Who may call what: unknown tokens are UNAUTHENTICATED, a warehouse
//! touches only its own stock, the reservation API is for services.

use protos::reservation::GetCartRequest;
use protos::reservation::reservations_client::ReservationsClient;
use protos::warehouse::warehouse_inventory_client::WarehouseInventoryClient;
use protos::warehouse::{ConfirmShipmentRequest, GetLevelsRequest, ListJournalRequest, WatchLevelsRequest};
use tonic::Code;
use tonic::transport::Endpoint;

use super::support::{ADMIN_TOKEN, LYON, LYON_TOKEN, Node, PARIS, PARIS_TOKEN, SERVICE_TOKEN, failed, receive};

fn read_levels(warehouse: &str) -> GetLevelsRequest {
    GetLevelsRequest { warehouse_id: warehouse.into(), skus: vec!["sku".into()], page: None, stale: false }
}

#[tokio::test]
async fn unknown_tokens_are_unauthenticated() {
    let node = Node::start().await;
    let before = node.observe().await;
    let mut stranger = node.warehouses("not-a-token-of-this-node");
    let status = failed(stranger.adjust_stock(receive("c-1", PARIS, "sku", 1)).await);
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let mut gateway = node.reservations("not-a-token-of-this-node");
    let status = failed(gateway.get_cart(GetCartRequest { shopper_id: "s".into() }).await);
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    // No token at all; authentication comes before validating the request.
    let channel = Endpoint::from_shared(format!("http://{}", node.api_addr())).unwrap().connect_lazy();
    let status = failed(WarehouseInventoryClient::new(channel.clone()).adjust_stock(receive("", "", "", 0)).await);
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = failed(ReservationsClient::new(channel).get_cart(GetCartRequest::default()).await);
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(node.observe().await, before);
    node.shutdown().await;
}

#[tokio::test]
async fn a_warehouse_touches_only_its_own_stock() {
    let node = Node::start().await;
    let mut admin = node.warehouses(ADMIN_TOKEN);
    admin.adjust_stock(receive("rx-1", LYON, "sku", 5)).await.unwrap();
    let before = node.observe().await;
    let mut paris = node.warehouses(PARIS_TOKEN);

    let denied = [
        failed(paris.adjust_stock(receive("c-1", LYON, "sku", 1)).await),
        // Authorization comes before validation: even an invalid request is denied.
        failed(paris.adjust_stock(receive("c-2", LYON, "", 0)).await),
        failed(paris.get_levels(read_levels(LYON)).await),
        failed(paris.get_levels(read_levels("")).await),
        failed(paris.list_journal(ListJournalRequest { warehouse_id: LYON.into(), ..Default::default() }).await),
        failed(paris.watch_levels(WatchLevelsRequest { warehouse_id: LYON.into(), skus: vec![] }).await),
        failed(
            paris
                .confirm_shipment(ConfirmShipmentRequest {
                    command_id: "c-3".into(),
                    warehouse_id: LYON.into(),
                    order_id: "order-1".into(),
                })
                .await,
        ),
    ];
    for status in &denied {
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    }
    // A service may read every warehouse but change none; warehouses may not use the reservation API.
    let mut gateway = node.warehouses(SERVICE_TOKEN);
    assert_eq!(gateway.get_levels(read_levels("")).await.unwrap().into_inner().levels.len(), 2);
    let status = failed(gateway.adjust_stock(receive("c-4", PARIS, "sku", 1)).await);
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let mut lyon_as_gateway = node.reservations(LYON_TOKEN);
    let status = failed(lyon_as_gateway.get_cart(GetCartRequest { shopper_id: "s".into() }).await);
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(node.observe().await, before);
    node.shutdown().await;
}
