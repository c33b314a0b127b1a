//! The warehouse subcommands (`WarehouseInventory` service).

use std::io::Write;

use clap::error::ErrorKind;
use protos::common::PageRequest;
use protos::warehouse::warehouse_inventory_client::WarehouseInventoryClient;
use protos::warehouse::{
    AdjustStockRequest, AdjustmentReason, ConfirmShipmentRequest, CycleCountRequest, GetLevelsRequest, JournalReason,
    ListJournalRequest, TransferRequest, WatchLevelsRequest, adjust_stock_request::Amount,
};

use super::args::{
    AdjustArgs, AdjustReason, CountArgs, JournalArgs, JournalReasonArg, LevelsArgs, ReceiveArgs, ShipArgs,
    TransferArgs, WatchArgs,
};
use super::render::{self, ToJson as _, journal_table, levels_table, write_page};
use super::{CliError, Context, Output, SKUS_MAX, check_len};
use crate::client::error_of;

/// A page request from `--limit`/`--cursor`; `None` when neither is given
/// (the server's default page).
fn page(limit: Option<u32>, cursor: Option<String>) -> Option<PageRequest> {
    (limit.is_some() || cursor.is_some())
        .then(|| PageRequest { cursor: cursor.unwrap_or_default(), limit: limit.unwrap_or(0) })
}

/// `levels`: GetLevels.
pub(super) async fn levels(ctx: &mut Context<'_, impl Write>, args: LevelsArgs) -> Result<(), CliError> {
    check_len("--sku", args.sku.len(), SKUS_MAX)?;
    let request = GetLevelsRequest {
        warehouse_id: args.warehouse.unwrap_or_default(),
        skus: args.sku,
        page: page(args.limit, args.cursor),
        stale: args.stale,
    };
    let response = ctx
        .client
        .call("WarehouseInventory/GetLevels", request, |channel, request| async move {
            WarehouseInventoryClient::new(channel).get_levels(request).await
        })
        .await
        .map_err(|error| CliError::client(error, None))?;
    ctx.emit(response.to_json(), |out| {
        levels_table(&response.levels).write(out)?;
        writeln!(out, "read at log index {}", response.applied_index)?;
        write_page(out, response.page.as_ref())
    })
}

/// `receive`: AdjustStock with reason RECEIVED.
pub(super) async fn receive(ctx: &mut Context<'_, impl Write>, args: ReceiveArgs) -> Result<(), CliError> {
    let command_id = ctx.command_id(args.command_id)?;
    let request = AdjustStockRequest {
        command_id: command_id.to_string(),
        warehouse_id: args.warehouse,
        sku: args.sku,
        reason: AdjustmentReason::Received as i32,
        amount: Some(Amount::Quantity(args.quantity)),
        to_damaged: false,
        expected_on_hand: args.expect_on_hand,
        reference: args.reference.unwrap_or_default(),
    };
    send_adjustment(ctx, &command_id, request).await
}

/// `adjust`: AdjustStock. The amount must fit the reason (`--delta` for
/// corrections, `--quantity` otherwise) and `--to-damaged` only goes with
/// `returned`; checked here so the message names the flag.
pub(super) async fn adjust(ctx: &mut Context<'_, impl Write>, args: AdjustArgs) -> Result<(), CliError> {
    let amount = match (args.reason, args.amount.quantity, args.amount.delta) {
        (AdjustReason::Correction, _, Some(delta)) => Amount::Delta(delta),
        (AdjustReason::Correction, _, None) => {
            return Err(CliError::usage(
                ErrorKind::ArgumentConflict,
                "--reason correction takes --delta, not --quantity",
            ));
        }
        (_, Some(quantity), _) => Amount::Quantity(quantity),
        (_, None, _) => {
            return Err(CliError::usage(
                ErrorKind::ArgumentConflict,
                "--delta is only for --reason correction; use --quantity",
            ));
        }
    };
    if args.to_damaged && args.reason != AdjustReason::Returned {
        return Err(CliError::usage(ErrorKind::ArgumentConflict, "--to-damaged only goes with --reason returned"));
    }
    let reason = match args.reason {
        AdjustReason::Received => AdjustmentReason::Received,
        AdjustReason::CycleCount => AdjustmentReason::CycleCount,
        AdjustReason::Damaged => AdjustmentReason::Damaged,
        AdjustReason::DisposeDamaged => AdjustmentReason::DisposeDamaged,
        AdjustReason::Shrink => AdjustmentReason::Shrink,
        AdjustReason::Returned => AdjustmentReason::Returned,
        AdjustReason::Correction => AdjustmentReason::Correction,
        AdjustReason::SafetyStock => AdjustmentReason::SetSafetyStock,
    };
    let command_id = ctx.command_id(args.command_id)?;
    let request = AdjustStockRequest {
        command_id: command_id.to_string(),
        warehouse_id: args.warehouse,
        sku: args.sku,
        reason: reason as i32,
        amount: Some(amount),
        to_damaged: args.to_damaged,
        expected_on_hand: args.expect_on_hand,
        reference: args.reference.unwrap_or_default(),
    };
    send_adjustment(ctx, &command_id, request).await
}

/// Sends an AdjustStock and prints the entry it posted and the new level.
async fn send_adjustment(
    ctx: &mut Context<'_, impl Write>,
    command_id: &crate::CommandId,
    request: AdjustStockRequest,
) -> Result<(), CliError> {
    let response = ctx
        .client
        .call("WarehouseInventory/AdjustStock", request, |channel, request| async move {
            WarehouseInventoryClient::new(channel).adjust_stock(request).await
        })
        .await
        .map_err(|error| CliError::client(error, Some(command_id)))?;
    ctx.emit_mutation(command_id, &response, |out| {
        writeln!(out, "applied at log index {}", response.applied_index)?;
        journal_table(&response.entry).write(out)?;
        levels_table(&response.level).write(out)
    })
}

/// `count`: CycleCount.
pub(super) async fn count(ctx: &mut Context<'_, impl Write>, args: CountArgs) -> Result<(), CliError> {
    let command_id = ctx.command_id(args.command_id)?;
    let request = CycleCountRequest {
        command_id: command_id.to_string(),
        warehouse_id: args.warehouse,
        sku: args.sku,
        counted: args.counted,
        expected_on_hand: args.expect_on_hand,
        reference: args.reference.unwrap_or_default(),
    };
    let response = ctx
        .client
        .call("WarehouseInventory/CycleCount", request, |channel, request| async move {
            WarehouseInventoryClient::new(channel).cycle_count(request).await
        })
        .await
        .map_err(|error| CliError::client(error, Some(&command_id)))?;
    ctx.emit_mutation(&command_id, &response, |out| {
        writeln!(out, "applied at log index {}", response.applied_index)?;
        journal_table(&response.entry).write(out)?;
        levels_table(&response.level).write(out)
    })
}

/// `journal`: ListJournal.
pub(super) async fn journal(ctx: &mut Context<'_, impl Write>, args: JournalArgs) -> Result<(), CliError> {
    check_len("--sku", args.sku.len(), SKUS_MAX)?;
    let reasons = args
        .reason
        .iter()
        .map(|reason| {
            let reason = match reason {
                JournalReasonArg::Received => JournalReason::Received,
                JournalReasonArg::CycleCount => JournalReason::CycleCount,
                JournalReasonArg::Damaged => JournalReason::Damaged,
                JournalReasonArg::DisposeDamaged => JournalReason::DisposeDamaged,
                JournalReasonArg::Shrink => JournalReason::Shrink,
                JournalReasonArg::Returned => JournalReason::Returned,
                JournalReasonArg::Correction => JournalReason::Correction,
                JournalReasonArg::SafetyStock => JournalReason::SafetyStock,
                JournalReasonArg::TransferOut => JournalReason::TransferOut,
                JournalReasonArg::TransferIn => JournalReason::TransferIn,
                JournalReasonArg::Shipped => JournalReason::Shipped,
            };
            reason as i32
        })
        .collect();
    let request = ListJournalRequest {
        warehouse_id: args.warehouse,
        skus: args.sku,
        reasons,
        since_ms: args.since_ms.unwrap_or(0),
        until_ms: args.until_ms.unwrap_or(0),
        page: page(args.limit, args.cursor),
    };
    let response = ctx
        .client
        .call("WarehouseInventory/ListJournal", request, |channel, request| async move {
            WarehouseInventoryClient::new(channel).list_journal(request).await
        })
        .await
        .map_err(|error| CliError::client(error, None))?;
    ctx.emit(response.to_json(), |out| {
        journal_table(&response.entries).write(out)?;
        write_page(out, response.page.as_ref())
    })
}

/// `ship`: ConfirmShipment.
pub(super) async fn ship(ctx: &mut Context<'_, impl Write>, args: ShipArgs) -> Result<(), CliError> {
    let command_id = ctx.command_id(args.command_id)?;
    let request = ConfirmShipmentRequest {
        command_id: command_id.to_string(),
        warehouse_id: args.warehouse,
        order_id: args.order,
    };
    let response = ctx
        .client
        .call("WarehouseInventory/ConfirmShipment", request, |channel, request| async move {
            WarehouseInventoryClient::new(channel).confirm_shipment(request).await
        })
        .await
        .map_err(|error| CliError::client(error, Some(&command_id)))?;
    ctx.emit_mutation(&command_id, &response, |out| {
        writeln!(
            out,
            "applied at log index {}; order is now {}",
            response.applied_index,
            render::order_status_name(response.order_status)
        )?;
        journal_table(&response.entries).write(out)?;
        levels_table(&response.levels).write(out)
    })
}

/// `transfer`: Transfer.
pub(super) async fn transfer(ctx: &mut Context<'_, impl Write>, args: TransferArgs) -> Result<(), CliError> {
    let command_id = ctx.command_id(args.command_id)?;
    let request = TransferRequest {
        command_id: command_id.to_string(),
        from_warehouse_id: args.from,
        to_warehouse_id: args.to,
        sku: args.sku,
        quantity: args.quantity,
        reference: args.reference.unwrap_or_default(),
    };
    let response = ctx
        .client
        .call("WarehouseInventory/Transfer", request, |channel, request| async move {
            WarehouseInventoryClient::new(channel).transfer(request).await
        })
        .await
        .map_err(|error| CliError::client(error, Some(&command_id)))?;
    ctx.emit_mutation(&command_id, &response, |out| {
        writeln!(out, "applied at log index {}", response.applied_index)?;
        journal_table(&response.entries).write(out)?;
        levels_table(response.from_level.iter().chain(&response.to_level)).write(out)
    })
}

/// `watch`: WatchLevels, printing each update until Ctrl-C, the end of the
/// stream, or `--count` updates. A stream that fails is not reopened (the
/// error says why); watching again starts with a fresh snapshot.
pub(super) async fn watch(ctx: &mut Context<'_, impl Write>, args: WatchArgs) -> Result<(), CliError> {
    check_len("--sku", args.sku.len(), SKUS_MAX)?;
    let request = WatchLevelsRequest { warehouse_id: args.warehouse, skus: args.sku };
    let mut updates = ctx
        .client
        .open_stream("WarehouseInventory/WatchLevels", request, |channel, request| async move {
            WarehouseInventoryClient::new(channel).watch_levels(request).await
        })
        .await
        .map_err(|error| CliError::client(error, None))?;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    // If no signal handler can be installed, watch on without one.
    let mut ctrl_c_armed = true;
    let mut seen: u64 = 0;
    loop {
        tokio::select! {
            update = updates.message() => match update {
                Ok(Some(update)) => {
                    seen += 1;
                    let json = update.to_json();
                    match ctx.output {
                        Output::Json => writeln!(ctx.out, "{json}")?,
                        Output::Human => writeln!(ctx.out, "{}", render::level_update_line(&update))?,
                    }
                    ctx.out.flush()?;
                    if args.count.is_some_and(|count| seen >= count) {
                        return Ok(());
                    }
                }
                Ok(None) => return Ok(()),
                Err(status) => return Err(CliError::client(error_of(status), None)),
            },
            signal = &mut ctrl_c, if ctrl_c_armed => match signal {
                Ok(()) => return Ok(()),
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for Ctrl-C");
                    ctrl_c_armed = false;
                }
            },
        }
    }
}
