//! [`Worker::submit`]: the one place an [`OpKind`] becomes its RPC and a
//! recorded [`Op`]. Sending the same kind again resends the same command
//! (same id, same payload), which is what the idempotence workload does.

use protos::reservation::reservations_client::ReservationsClient;
use protos::reservation::{
    AllocationPolicy, CommitHoldRequest, ReleaseHoldRequest, ReserveLine, ReserveRequest, SplitMode,
};
use protos::warehouse::warehouse_inventory_client::WarehouseInventoryClient;
use protos::warehouse::{
    AdjustStockRequest, AdjustmentReason, ConfirmShipmentRequest, GetLevelsRequest, StockLevel, TransferRequest,
    adjust_stock_request,
};
use region_client::{ClientError, RegionClient};

use super::Worker;
use crate::chaos::history::{Adjustment, Level, Op, OpKind, Outcome, error_name};
use crate::seed;

/// The reference written on every document the workloads send.
const REFERENCE: &str = "chaos";

/// A submitted op and what its reply said about where stock lies.
#[derive(Clone, Debug)]
pub struct Submitted {
    /// The recorded op.
    pub op: Op,
    /// For an acknowledged reserve or commit, the warehouses its hold or
    /// order claims stock at (from the reply); empty otherwise.
    pub warehouses: Vec<String>,
}

impl Worker {
    /// Sends `kind` (a [`OpKind::Read`]'s `level` is ignored and filled from
    /// the answer) and records the op.
    pub async fn submit(&self, kind: OpKind) -> Submitted {
        let id = self.recorder.next_id();
        let invoke_us = self.recorder.now_us();
        let (kind, warehouses, result) = self.call(id, kind).await;
        if let Err(error) = &result {
            tracing::debug!(id, %error, "op failed");
        }
        let op = Op {
            id,
            region: self.catalog.region.clone(),
            client: self.id,
            kind,
            invoke_us,
            complete_us: self.recorder.now_us(),
            outcome: Outcome::of(&result),
            error: error_name(&result),
        };
        self.recorder.record(op.clone());
        Submitted { op, warehouses }
    }

    /// The RPC of op `id` of `kind`: the kind as recorded (a read's level
    /// filled in), the warehouses of the reply, and the call's result. A
    /// reserve goes through the shared batcher when `id` is even, as its own
    /// `Reserve` call when odd.
    async fn call(&self, id: u64, kind: OpKind) -> (OpKind, Vec<String>, Result<(), ClientError>) {
        let service = &self.clients.service;
        match kind {
            OpKind::Reserve { ref command_id, ref hold_id, ref sku, quantity, ttl_ms } => {
                let request = ReserveRequest {
                    command_id: command_id.clone(),
                    hold_id: hold_id.clone(),
                    lines: vec![ReserveLine { sku: sku.clone(), quantity }],
                    policy: Some(AllocationPolicy {
                        preferred_warehouse_ids: Vec::new(),
                        mode: SplitMode::SplitAllowed.into(),
                    }),
                    ttl_ms,
                    owner: String::new(),
                };
                let reply = if id.is_multiple_of(2) {
                    self.clients.batcher.reserve(request).await
                } else {
                    service
                        .call("Reservations/Reserve", request, |channel, request| async move {
                            ReservationsClient::new(channel).reserve(request).await
                        })
                        .await
                };
                let warehouses = reply
                    .as_ref()
                    .map(|r| r.hold.iter().flat_map(|h| &h.allocations).map(|a| a.warehouse_id.clone()).collect())
                    .unwrap_or_default();
                (kind, warehouses, reply.map(drop))
            }
            OpKind::Commit { ref command_id, ref hold_id, ref order_id } => {
                let request = CommitHoldRequest {
                    command_id: command_id.clone(),
                    hold_id: hold_id.clone(),
                    order_id: order_id.clone(),
                };
                let reply = service
                    .call("Reservations/CommitHold", request, |channel, request| async move {
                        ReservationsClient::new(channel).commit_hold(request).await
                    })
                    .await;
                let warehouses = reply
                    .as_ref()
                    .map(|r| r.order.iter().flat_map(|o| &o.lines).map(|l| l.warehouse_id.clone()).collect())
                    .unwrap_or_default();
                (kind, warehouses, reply.map(drop))
            }
            OpKind::Release { ref command_id, ref hold_id } => {
                let request = ReleaseHoldRequest { command_id: command_id.clone(), hold_id: hold_id.clone() };
                let reply = service
                    .call("Reservations/ReleaseHold", request, |channel, request| async move {
                        ReservationsClient::new(channel).release_hold(request).await
                    })
                    .await;
                (kind, Vec::new(), reply.map(drop))
            }
            OpKind::Adjust { ref command_id, ref warehouse, ref sku, reason, quantity } => {
                let request = adjust_request(command_id, warehouse, sku, reason, quantity);
                let reply = match self.warehouse_client(warehouse) {
                    Ok(client) => seed::adjust_stock(client, request).await.map(drop),
                    Err(error) => Err(error),
                };
                (kind, Vec::new(), reply)
            }
            OpKind::Transfer { ref command_id, ref from, ref to, ref sku, quantity } => {
                let request = TransferRequest {
                    command_id: command_id.clone(),
                    from_warehouse_id: from.clone(),
                    to_warehouse_id: to.clone(),
                    sku: sku.clone(),
                    quantity,
                    reference: REFERENCE.into(),
                };
                let reply = match self.warehouse_client(from) {
                    Ok(client) => client
                        .call("WarehouseInventory/Transfer", request, |channel, request| async move {
                            WarehouseInventoryClient::new(channel).transfer(request).await
                        })
                        .await
                        .map(drop),
                    Err(error) => Err(error),
                };
                (kind, Vec::new(), reply)
            }
            OpKind::Ship { ref command_id, ref warehouse, ref order_id } => {
                let request = ConfirmShipmentRequest {
                    command_id: command_id.clone(),
                    warehouse_id: warehouse.clone(),
                    order_id: order_id.clone(),
                };
                let reply = match self.warehouse_client(warehouse) {
                    Ok(client) => client
                        .call("WarehouseInventory/ConfirmShipment", request, |channel, request| async move {
                            WarehouseInventoryClient::new(channel).confirm_shipment(request).await
                        })
                        .await
                        .map(drop),
                    Err(error) => Err(error),
                };
                (kind, Vec::new(), reply)
            }
            OpKind::Read { sku, warehouse, .. } => {
                let reply = read_level(service, &warehouse, &sku).await;
                let level = reply.as_ref().ok().cloned();
                (OpKind::Read { sku, warehouse, level }, Vec::new(), reply.map(drop))
            }
        }
    }

    /// The client with `warehouse`'s token; a warehouse outside the catalog
    /// is a rejection the harness made up (it never reaches a node).
    fn warehouse_client(&self, warehouse: &str) -> Result<&RegionClient, ClientError> {
        self.clients.warehouses.get(warehouse).ok_or_else(|| ClientError::Rejected {
            status: tonic::Status::permission_denied(format!("the harness has no token for {warehouse}")),
            detail: None,
        })
    }
}

/// The `AdjustStock` request of an [`OpKind::Adjust`].
fn adjust_request(
    command_id: &str,
    warehouse: &str,
    sku: &str,
    reason: Adjustment,
    quantity: u64,
) -> AdjustStockRequest {
    let reason = match reason {
        Adjustment::Receive => return seed::receipt(command_id, warehouse, sku, quantity, REFERENCE),
        Adjustment::Damage => AdjustmentReason::Damaged,
        Adjustment::Shrink => AdjustmentReason::Shrink,
    };
    AdjustStockRequest {
        reason: reason.into(),
        amount: Some(adjust_stock_request::Amount::Quantity(quantity)),
        ..seed::receipt(command_id, warehouse, sku, quantity, REFERENCE)
    }
}

/// One SKU's level at one warehouse, read linearizably on the leader.
pub async fn read_level(client: &RegionClient, warehouse: &str, sku: &str) -> Result<Level, ClientError> {
    let request = GetLevelsRequest { warehouse_id: warehouse.into(), skus: vec![sku.into()], page: None, stale: false };
    let reply = client
        .call("WarehouseInventory/GetLevels", request, |channel, request| async move {
            WarehouseInventoryClient::new(channel).get_levels(request).await
        })
        .await?;
    let found = reply.levels.into_iter().find(|l| l.sku == sku && l.warehouse_id == warehouse);
    // A SKU the warehouse never stocked reads as zeros.
    Ok(found.map(level_of).unwrap_or_else(|| Level {
        sku: sku.into(),
        warehouse: warehouse.into(),
        ..Level::default()
    }))
}

/// A wire level as the history records it.
pub fn level_of(level: StockLevel) -> Level {
    Level {
        sku: level.sku,
        warehouse: level.warehouse_id,
        on_hand: level.on_hand,
        damaged: level.damaged,
        safety_stock: level.safety_stock,
        held: level.held,
        allocated: level.allocated,
        available: level.available,
    }
}
