//! The hold and order subcommands (`Reservations` service), for operators
//! acting on a shopper's or the gateway's behalf.

use std::io::Write;

use protos::reservation::reservations_client::ReservationsClient;
use protos::reservation::{
    AllocationPolicy, CommitHoldRequest, GetHoldRequest, GetOrderRequest, ReleaseHoldRequest, ReserveLine,
    ReserveRequest, SplitMode,
};

use super::args::{CommitArgs, HoldArgs, OrderArgs, ReleaseArgs, ReserveArgs};
use super::render::{ToJson as _, write_hold, write_order};
use super::{CliError, Context, LINES_MAX, WAREHOUSES_MAX, check_len};

/// `reserve`: Reserve. The hold id defaults to the command id, so rerunning
/// with the same `--command-id` resends the very same request.
pub(super) async fn reserve(ctx: &mut Context<'_, impl Write>, args: ReserveArgs) -> Result<(), CliError> {
    check_len("--line", args.lines.len(), LINES_MAX)?;
    check_len("--prefer", args.prefer.len(), WAREHOUSES_MAX)?;
    let ttl_ms = u64::try_from(args.ttl.as_millis()).expect("--ttl is at most 24 hours");
    let command_id = ctx.command_id(args.command_id)?;
    let request = ReserveRequest {
        command_id: command_id.to_string(),
        hold_id: args.hold.unwrap_or_else(|| command_id.to_string()),
        lines: args.lines.into_iter().map(|line| ReserveLine { sku: line.sku, quantity: line.quantity }).collect(),
        policy: Some(AllocationPolicy {
            preferred_warehouse_ids: args.prefer,
            mode: if args.single_warehouse { SplitMode::SingleWarehouse } else { SplitMode::SplitAllowed } as i32,
        }),
        ttl_ms,
        owner: args.owner.unwrap_or_default(),
    };
    let response = ctx
        .client
        .call("Reservations/Reserve", request, |channel, request| async move {
            ReservationsClient::new(channel).reserve(request).await
        })
        .await
        .map_err(|error| CliError::client(error, Some(&command_id)))?;
    ctx.emit_mutation(&command_id, &response, |out| {
        writeln!(out, "applied at log index {}", response.applied_index)?;
        response.hold.as_ref().map_or(Ok(()), |hold| write_hold(out, hold))
    })
}

/// `commit`: CommitHold. The order id defaults to the command id, as the
/// hold id does for `reserve`.
pub(super) async fn commit(ctx: &mut Context<'_, impl Write>, args: CommitArgs) -> Result<(), CliError> {
    let command_id = ctx.command_id(args.command_id)?;
    let request = CommitHoldRequest {
        command_id: command_id.to_string(),
        hold_id: args.hold,
        order_id: args.order.unwrap_or_else(|| command_id.to_string()),
    };
    let response = ctx
        .client
        .call("Reservations/CommitHold", request, |channel, request| async move {
            ReservationsClient::new(channel).commit_hold(request).await
        })
        .await
        .map_err(|error| CliError::client(error, Some(&command_id)))?;
    ctx.emit_mutation(&command_id, &response, |out| {
        writeln!(out, "applied at log index {}", response.applied_index)?;
        response.order.as_ref().map_or(Ok(()), |order| write_order(out, order))
    })
}

/// `release`: ReleaseHold.
pub(super) async fn release(ctx: &mut Context<'_, impl Write>, args: ReleaseArgs) -> Result<(), CliError> {
    let command_id = ctx.command_id(args.command_id)?;
    let request = ReleaseHoldRequest { command_id: command_id.to_string(), hold_id: args.hold };
    let response = ctx
        .client
        .call("Reservations/ReleaseHold", request, |channel, request| async move {
            ReservationsClient::new(channel).release_hold(request).await
        })
        .await
        .map_err(|error| CliError::client(error, Some(&command_id)))?;
    ctx.emit_mutation(&command_id, &response, |out| {
        writeln!(out, "applied at log index {}", response.applied_index)?;
        response.hold.as_ref().map_or(Ok(()), |hold| write_hold(out, hold))
    })
}

/// `hold`: GetHold.
pub(super) async fn hold(ctx: &mut Context<'_, impl Write>, args: HoldArgs) -> Result<(), CliError> {
    let request = GetHoldRequest { hold_id: args.hold };
    let hold = ctx
        .client
        .call("Reservations/GetHold", request, |channel, request| async move {
            ReservationsClient::new(channel).get_hold(request).await
        })
        .await
        .map_err(|error| CliError::client(error, None))?;
    ctx.emit(hold.to_json(), |out| write_hold(out, &hold))
}

/// `order`: GetOrder.
pub(super) async fn order(ctx: &mut Context<'_, impl Write>, args: OrderArgs) -> Result<(), CliError> {
    let request = GetOrderRequest { order_id: args.order };
    let order = ctx
        .client
        .call("Reservations/GetOrder", request, |channel, request| async move {
            ReservationsClient::new(channel).get_order(request).await
        })
        .await
        .map_err(|error| CliError::client(error, None))?;
    ctx.emit(order.to_json(), |out| write_order(out, &order))
}
