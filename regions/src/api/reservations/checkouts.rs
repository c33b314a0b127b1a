//! StartCheckout, RecordCheckoutStep, GetCheckout: the durable log of the
//! gateway's checkout saga.

use ledger::command::{RecordCheckoutStep, StartCheckout};
use ledger::ids::CheckoutId;
use ledger::{Command, Outcome};
use protos::reservation as pb;
use tonic::Status;

use super::get;
use crate::api::ApiContext;
use crate::api::convert::checkouts::{checkout, checkout_line_of, checkout_step_of, currency_of};
use crate::api::convert::input::{id, list_len};
use crate::api::convert::{read_back, unexpected};
use crate::auth::Principal;

/// Serves StartCheckout.
pub(super) async fn start_checkout(
    ctx: &ApiContext,
    principal: &Principal,
    request: pb::StartCheckoutRequest,
) -> Result<pb::CheckoutResponse, Status> {
    let max_lines = usize::try_from(ctx.region.limits().max_lines_per_command).unwrap_or(usize::MAX);
    list_len("lines", request.lines.len(), 1, max_lines)?;
    let lines = request.lines.iter().enumerate().map(|(i, line)| checkout_line_of(i, line));
    let command = StartCheckout {
        checkout_id: id("checkout_id", &request.checkout_id)?,
        shopper: id("shopper_id", &request.shopper_id)?,
        currency: currency_of("currency", &request.currency)?,
        lines: lines.collect::<Result<_, Status>>()?,
    };
    let checkout_id = command.checkout_id.clone();
    record(ctx, principal, &request.command_id, &checkout_id, Command::StartCheckout(command)).await
}

/// Serves RecordCheckoutStep.
pub(super) async fn record_checkout_step(
    ctx: &ApiContext,
    principal: &Principal,
    request: pb::RecordCheckoutStepRequest,
) -> Result<pb::CheckoutResponse, Status> {
    let command = RecordCheckoutStep {
        checkout_id: id("checkout_id", &request.checkout_id)?,
        step: checkout_step_of(request.step.as_ref())?,
    };
    let checkout_id = command.checkout_id.clone();
    record(ctx, principal, &request.command_id, &checkout_id, Command::RecordCheckoutStep(command)).await
}

/// Serves GetCheckout.
pub(super) async fn get_checkout(ctx: &ApiContext, request: pb::GetCheckoutRequest) -> Result<pb::Checkout, Status> {
    let checkout_id: CheckoutId = id("checkout_id", &request.checkout_id)?;
    get(ctx, "checkout", &request.checkout_id, |ledger| ledger.checkout(&checkout_id).map(checkout)).await
}

/// Proposes a checkout command and answers the checkout as this replica
/// reads it right after.
async fn record(
    ctx: &ApiContext,
    principal: &Principal,
    command_id: &str,
    checkout_id: &CheckoutId,
    command: Command,
) -> Result<pb::CheckoutResponse, Status> {
    let written = ctx.write(principal, command_id, command).await?;
    let Outcome::CheckoutRecorded { .. } = written.outcome else { return Err(unexpected(&written.outcome)) };
    let recorded = read_back(ctx, "the checkout", |ledger| ledger.checkout(checkout_id).map(checkout)).await?;
    Ok(pb::CheckoutResponse { checkout: Some(recorded), applied_index: written.applied_index })
}
