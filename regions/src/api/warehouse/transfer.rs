//! Transfer: units move between two warehouses of the region in one
//! command.

use ledger::command::TransferStock;
use ledger::ids::{CommandId, WarehouseId};
use ledger::{Command, Outcome};
use protos::warehouse::{TransferRequest, TransferResponse};
use tonic::Status;

use super::journal::posted_by;
use crate::api::ApiContext;
use crate::api::convert::input::{id, invalid, positive, text};
use crate::api::convert::stock::{journal_entry, stock_level};
use crate::api::convert::unexpected;
use crate::auth::Principal;
use crate::region::Consistency;

/// Serves Transfer. The caller must own the sending warehouse; both levels
/// come from the ledger's outcome and the two entries (TRANSFER_OUT, then
/// TRANSFER_IN) are read back from the journal.
pub(super) async fn transfer(
    ctx: &ApiContext,
    principal: &Principal,
    request: TransferRequest,
) -> Result<TransferResponse, Status> {
    principal.may_change_warehouse(&request.from_warehouse_id)?;
    let from: WarehouseId = id("from_warehouse_id", &request.from_warehouse_id)?;
    let to: WarehouseId = id("to_warehouse_id", &request.to_warehouse_id)?;
    if from == to {
        return Err(invalid("to_warehouse_id", "must differ from from_warehouse_id"));
    }
    let command = TransferStock {
        from,
        to,
        sku: id("sku", &request.sku)?,
        qty: positive("quantity", request.quantity)?,
        reference: text("reference", &request.reference)?,
    };
    let (from, to, sku) = (command.from.clone(), command.to.clone(), command.sku.clone());
    let written = ctx.write(principal, &request.command_id, Command::TransferStock(command)).await?;
    let Outcome::StockTransferred { from: from_level, to: to_level } = written.outcome else {
        return Err(unexpected(&written.outcome));
    };
    let command_id = CommandId::from(request.command_id.as_str());
    let entries = ctx
        .read(Consistency::Stale, |ledger| posted_by(ledger, &command_id).into_iter().map(journal_entry).collect())
        .await?
        .value;
    Ok(TransferResponse {
        from_level: Some(stock_level(&from, &sku, &from_level)),
        to_level: Some(stock_level(&to, &sku, &to_level)),
        entries,
        applied_index: written.applied_index,
    })
}
