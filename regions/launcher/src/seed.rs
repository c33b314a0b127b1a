//! Putting warehouses and stock into a launched region through its APIs:
//! the one way `regiond dev`, the benchmark, the chaos harness and the
//! tests register a warehouse and receive units.

use protos::admin::admin_client::AdminClient;
use protos::admin::{RegisterWarehouseRequest, Warehouse};
use protos::warehouse::warehouse_inventory_client::WarehouseInventoryClient;
use protos::warehouse::{AdjustStockRequest, AdjustStockResponse, AdjustmentReason, adjust_stock_request};
use region_client::{ClientError, RegionClient};

/// Registers `warehouse` in the region under `command_id` (admin token).
/// A warehouse that an earlier run registered under another command id
/// (`ALREADY_EXISTS`) counts as registered.
pub async fn register_warehouse(
    admin: &RegionClient,
    command_id: &str,
    warehouse: Warehouse,
) -> Result<(), ClientError> {
    let request = RegisterWarehouseRequest { command_id: command_id.into(), warehouse: Some(warehouse) };
    let registered = admin
        .call("Admin/RegisterWarehouse", request, |channel, request| async move {
            AdminClient::new(channel).register_warehouse(request).await
        })
        .await;
    match registered {
        Err(ClientError::Rejected { status, .. }) if status.code() == tonic::Code::AlreadyExists => Ok(()),
        other => other.map(drop),
    }
}

/// A receipt of `quantity` units of `sku` at `warehouse`: an `AdjustStock`
/// with reason `RECEIVED`, no compare-and-set (set `expected_on_hand` on the
/// result for one).
pub fn receipt(command_id: &str, warehouse: &str, sku: &str, quantity: u64, reference: &str) -> AdjustStockRequest {
    AdjustStockRequest {
        command_id: command_id.into(),
        warehouse_id: warehouse.into(),
        sku: sku.into(),
        reason: AdjustmentReason::Received.into(),
        amount: Some(adjust_stock_request::Amount::Quantity(quantity)),
        to_damaged: false,
        expected_on_hand: None,
        reference: reference.into(),
    }
}

/// Sends `request` (e.g. a [`receipt`]) through the leader-aware client.
pub async fn adjust_stock(
    client: &RegionClient,
    request: AdjustStockRequest,
) -> Result<AdjustStockResponse, ClientError> {
    client
        .call("WarehouseInventory/AdjustStock", request, |channel, request| async move {
            WarehouseInventoryClient::new(channel).adjust_stock(request).await
        })
        .await
}
