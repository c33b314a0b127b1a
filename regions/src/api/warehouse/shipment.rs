//! ConfirmShipment: an order's lines allocated at one warehouse leave it.

use ledger::command::ShipOrder;
use ledger::ids::CommandId;
use ledger::{Command, Outcome};
use protos::warehouse::{ConfirmShipmentRequest, ConfirmShipmentResponse};
use tonic::Status;

use super::journal::posted_by;
use crate::api::ApiContext;
use crate::api::convert::input::id;
use crate::api::convert::orders::order_status;
use crate::api::convert::stock::{journal_entry, stock_level};
use crate::api::convert::unexpected;
use crate::auth::Principal;
use crate::region::Consistency;

/// Serves ConfirmShipment. The SHIPPED entries are read back exactly (the
/// journal is immutable); the levels are as this replica reads them right
/// after the write, which a later command of the same Raft entry may
/// already have changed (the ledger's outcome of a shipment carries only
/// the order's status).
pub(super) async fn confirm_shipment(
    ctx: &ApiContext,
    principal: &Principal,
    request: ConfirmShipmentRequest,
) -> Result<ConfirmShipmentResponse, Status> {
    principal.may_change_warehouse(&request.warehouse_id)?;
    let command = ShipOrder {
        order_id: id("order_id", &request.order_id)?,
        warehouse: id("warehouse_id", &request.warehouse_id)?,
    };
    let written = ctx.write(principal, &request.command_id, Command::ShipOrder(command)).await?;
    let Outcome::OrderUpdated { status } = written.outcome else { return Err(unexpected(&written.outcome)) };
    let command_id = CommandId::from(request.command_id.as_str());
    let (entries, levels) = ctx
        .read(Consistency::Stale, |ledger| {
            let posted = posted_by(ledger, &command_id);
            let levels = posted.iter().map(|e| stock_level(&e.warehouse, &e.sku, &ledger.level(&e.sku, &e.warehouse)));
            (posted.iter().map(|entry| journal_entry(entry)).collect(), levels.collect())
        })
        .await?
        .value;
    Ok(ConfirmShipmentResponse {
        order_status: order_status(status).into(),
        levels,
        entries,
        applied_index: written.applied_index,
    })
}
